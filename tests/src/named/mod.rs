//! A real BIND9 (`named`) for tests: see [`NamedBuilder`] and [`Named`].
//!
//! ```no_run
//! use bindy_tests::named::{require_tool, NamedBuilder};
//! if require_tool("named") {
//!     let ns = NamedBuilder::new().start().unwrap();
//!     ns.add_zone("example.com", "$TTL 300\n@ SOA ns1 admin 1 60 60 600 60\n@ NS ns1\nns1 A 127.0.0.1\n").unwrap();
//!     ns.nsupdate("update add www.example.com. 300 A 192.0.2.1").unwrap();
//!     assert_eq!(ns.dig_short("www.example.com", "A").unwrap(), ["192.0.2.1"]);
//! }
//! ```

mod builder;
mod conf;
mod instance;
mod net;
mod tools;
mod tsig;

pub use crate::error::{Error, Result};
pub use builder::NamedBuilder;
pub use conf::NamedPaths;
pub use instance::Named;
pub use net::{alloc_loopback_ip, free_port, port_is_free, try_free_port, LoopbackAlias};
pub use tools::{
    ci_mode, find_tool, require_tool, require_tool_in, require_tools, run, run_tool, wait_until,
    Output,
};
pub use tsig::{TsigKey, DEFAULT_ALGORITHM};
