//! Device kinds beyond veth pairs and bridges. Each kind is one module that owns its scenario
//! model (a table under its node: `vxlans.vx0 = { ... }`), its validation, the netlink request
//! that makes it (each request's doc names its `ip link add` equivalent), its import and the
//! kernel feature it needs, as a [`DeviceKind`]; [`registry`] lists them. The worker builds them
//! all the same way: create, join a bridge, up, addresses, wait until ready, as for veth ends.

pub mod kind;
pub mod registry;

pub mod bond;
pub mod bridge_vlan;
pub mod macvlan;
pub mod vlan;
pub mod vrf;
pub mod vxlan;

pub use kind::{Around, Cx, Feature, Shared};
pub(crate) use registry::{device_kinds, import, validate_node};
pub use registry::{PlanDevice, Table, Tables};
