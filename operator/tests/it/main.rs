//! `wagate-operator`'s integration tests in one binary, the suites as modules selectable by
//! name (`cargo test -p wagate-operator --test it reconcile::`).

mod support;

mod crd_drift;
mod desired_objects;
mod kubectl_dry_run;
mod probes;
mod real_cluster;
mod reconcile;
