//! Building a node's network over rtnetlink: one verb per `ip` command, each checking the reply.
//!
//! A [`Netlink`] talks to one node's namespace; its socket was created on a thread inside that
//! namespace (see [`crate::sandbox::in_netns`]). Each request's doc names its `ip` equivalent,
//! and a failure says which command failed on which node.

pub mod address;
pub mod dump;
pub mod link;
pub mod neighbour;
pub mod route;
pub mod sysctl;

pub use link::LinkState;

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("cannot open a netlink socket in node `{node}`")]
    Socket {
        node: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` in node `{node}` failed")]
    Request {
        node: String,
        command: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("`{command}` in node `{node}` is not a valid request: {detail}")]
    Invalid {
        node: String,
        command: String,
        detail: String,
    },
    #[error("node `{node}` has no interface `{name}`")]
    NoSuchLink { node: String, name: String },
}

impl NetlinkError {
    /// The errno the kernel answered a request with, if it did.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Request {
                source: rtnetlink::Error::NetlinkError(e),
                ..
            } => Some(e.raw_code().abs()),
            _ => None,
        }
    }
}

/// An rtnetlink connection to one node's network namespace.
#[derive(Clone)]
pub struct Netlink {
    pub node: String,
    handle: rtnetlink::Handle,
}

impl Netlink {
    /// Opens a connection. Must be called on a thread inside the node's namespace that has entered
    /// the tokio runtime `rt`; the connection task is spawned onto `rt`.
    pub fn open(node: &str, rt: &tokio::runtime::Handle) -> Result<Self, NetlinkError> {
        let _guard = rt.enter();
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|source| NetlinkError::Socket {
                node: node.to_string(),
                source,
            })?;
        rt.spawn(conn);
        Ok(Netlink {
            node: node.to_string(),
            handle,
        })
    }

    fn fail(&self, command: String) -> impl FnOnce(rtnetlink::Error) -> NetlinkError + '_ {
        move |source| NetlinkError::Request {
            node: self.node.clone(),
            command,
            source,
        }
    }
}
