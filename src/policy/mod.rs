//! API and operation policies the gate publishes with a revision (issue 14).
//!
//! - [`parse`]: the `rawxml`-aware reader (well-formedness, line and column, byte spans);
//! - [`route`]: `set-backend-service` spliced into `<inbound>` for the backend pool.

pub mod parse;
pub mod route;

pub use parse::{Attr, Document, Element, Node, Span, XmlError, parse};
pub use route::{DEFAULT_POLICY, RouteError, with_backend};
