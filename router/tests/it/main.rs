//! `wagate-router`'s integration tests in one binary (each binary links the whole stack
//! once): the suites are modules, selectable by name (`cargo test -p wagate-router --test it
//! contract_cluster::`). The contract cases (`contract/cases.rs`) run in both `contract`
//! (local backend) and `contract_cluster`.

mod support;

mod console;
mod contract;
mod contract_cluster;
mod hostile;
mod pacer;
mod restart;
mod schema_fuzz;
mod tenancy;
