//! whistle's API, driven through the real server and its generated clients. Each
//! file is a capability; each scenario runs on SQLite and, when
//! `WHISTLE_TEST_POSTGRES_URL` names a server, on PostgreSQL.

#![forbid(unsafe_code)]

#[macro_use]
mod helpers;
#[path = "../support/install.rs"]
mod install;

mod access;
mod alert_mail;
mod audit;
mod channels;
mod concurrency;
mod console;
mod console_certificate;
mod console_office;
mod console_supervision;
mod decisions;
mod digest;
mod discovery;
mod duplicates;
mod faults;
mod idempotency;
mod intake;
mod ledger;
mod lifecycle;
mod lockout;
mod mail;
mod metrics;
mod page;
mod paging;
mod progress;
mod replies;
mod rpc_fuzz;
mod smtp;
mod statistics;
mod streams;
mod telemetry;
mod timestamps;
mod tls;
mod validation;
mod watch;
mod webhooks;
