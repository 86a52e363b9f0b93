//! `wagate-session`'s integration tests in one binary: each test binary links the whole
//! whatsapp-rust stack, so the suites are modules of one, selectable by name
//! (`cargo test -p wagate-session --test it real_engine_e2e::`).

mod support;

mod durability;
mod lifecycle;
mod real_engine_contacts;
mod real_engine_e2e;
mod real_engine_faults;
mod real_engine_group_admin;
mod real_engine_groups;
mod real_engine_kinds;
mod real_engine_media;
mod real_engine_offline;
mod real_engine_polls;
mod real_engine_profile;
mod real_engine_settings;
mod release_graph;
mod validation;
mod webhooks;
