//! # neutrino-core
//!
//! The foundation every other Neutrino crate stands on:
//!
//! * [`ids`]: typed identifiers ([`ids::PlatformId`], [`ids::StackId`],
//!   [`ids::TenantId`], [`ids::UserId`]) that validate on parse;
//! * [`naming`]: resource names, hostnames, cookie domains and KV keys, built only
//!   from typed IDs;
//! * [`error`]: the portable [`Error`] every port returns;
//! * the ports that backends implement: [`sql::SqlExecutor`], [`kv::KvStore`],
//!   [`object::ObjectStore`] and [`provision::Provisioner`], plus [`migrate`], a
//!   migration runner over the SQL port;
//! * [`memory`]: in-memory backends for fast tests;
//! * `testkit` (feature `testkit`): the conformance suites every backend runs.
//!
//! ```
//! use neutrino::ids::{PlatformId, StackId};
//! use neutrino::naming::{Domain, ResourceName};
//!
//! let platform = PlatformId::generate();
//! let db = ResourceName::stack_database(platform, StackId::DEFAULT);
//! assert_eq!(db.as_str(), format!("{platform}-default-db"));
//! assert_eq!(Domain::default().cookie_domain(platform), format!(".{platform}.nno.app"));
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod clock;
pub mod error;
pub mod ids;
pub mod kv;
pub mod memory;
pub mod migrate;
pub mod naming;
pub mod object;
pub mod provision;
pub mod sql;
pub mod trace;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use async_trait::async_trait;
pub use bytes::Bytes;
pub use error::{BoxError, Error, Result};
