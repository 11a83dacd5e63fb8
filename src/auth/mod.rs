//! Who may do what: the management API's authentication, and (at `$connect`)
//! the client's authorization.
//!
//! - [`management`]: SigV4 (boto3, the AWS CLI) and bearer tokens on the
//!   management listener.
//! - [`sigv4`]: the pure signature check it uses.

pub mod management;
pub mod sigv4;
