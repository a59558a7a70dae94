//! The scenario file as written: serde types that mirror the TOML one to one.
//!
//! Nothing here is checked beyond TOML types and key names; `validate` turns a [`ScenarioFile`]
//! into a typed [`crate::scenario::Plan`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// A scenario this one derives from, relative to this file: tables merge key by key, arrays
    /// replace, and `expect` replaces as a whole.
    #[serde(default)]
    pub extends: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub settings: Settings,
    #[serde(default)]
    pub nodes: BTreeMap<String, Node>,
    #[serde(default)]
    pub links: Vec<Link>,
    #[serde(default)]
    pub expect: Expect,
    /// What happens to the network after the first checks, in file order: each step's actions,
    /// then its own expectations.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// One step of a scenario's timeline: actions that change the network, then what must hold.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// How reports and `--during` refer to it; unique within the file (`start` is reserved for
    /// the checks before any step). Required.
    #[serde(default)]
    pub name: String,
    /// Its actions, in order (`{ link = "r1:eth1", state = "down" }`, ...).
    #[serde(default, rename = "do")]
    pub actions: Vec<Action>,
    /// Its own expectations, any kind, checked after its actions.
    #[serde(default)]
    pub expect: Expect,
}

/// One action of a step, as written: exactly one of `link`, `node`, `service` or `wait` says
/// what it acts on.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// An interface, `NODE:IFACE`, set `state` (`"up"`, `"down"`) and/or `mtu`.
    pub link: Option<String>,
    /// `"up"` or `"down"` (`ip link set dev IFACE up|down`).
    pub state: Option<String>,
    /// `ip link set dev IFACE mtu N`.
    pub mtu: Option<u32>,
    /// A node, for `run` or `sysctl`.
    pub node: Option<String>,
    /// A command in the node, like a `run` line: it must exit 0.
    pub run: Option<Vec<String>>,
    /// Sysctls written in the node.
    pub sysctl: Option<BTreeMap<String, SysctlValue>>,
    /// A service, `NODE:NAME`, with `action`.
    pub service: Option<String>,
    /// `"stop"` (SIGTERM, then SIGKILL after 2 s), `"start"` or `"restart"`.
    pub action: Option<String>,
    /// A pause (`"2s"`): only for kernel timers; prefer an expectation's `within`.
    pub wait: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// How long a probe waits for an answer (a ping reply, a traceroute hop).
    pub probe_timeout_ms: Option<u64>,
    /// How long one `run` command may take.
    pub run_timeout_ms: Option<u64>,
    /// How long the whole scenario may take, build and probes included.
    pub deadline_ms: Option<u64>,
    /// The highest TTL a traceroute tries.
    pub max_hops: Option<u8>,
    /// Capture every frame of every probe on every interface (default true): paths, NAT and ARP
    /// steps in reports and snapshots, pcap files. Off, only probe results are checked.
    pub capture: Option<bool>,
    /// Pre-install permanent neighbour (ARP) entries for every first hop the probes use, for
    /// scale runs: the kernel's neighbour table is shared by the whole machine (1024 entries by
    /// default). Such scenarios do not test ARP resolution.
    pub permanent_neighbors: Option<bool>,
    /// End a probe that will get no answer as soon as the captures make that certain (default
    /// true): its packet was consumed where nothing will answer. Off, every such probe waits
    /// `probe_timeout_ms`; verdicts and snapshots are the same either way (a trial checks it).
    pub early_verdicts: Option<bool>,
    /// What every node starts from: `"netconform"` (the default: known, quiet settings whatever
    /// the host has, see the README) or `"kernel"` (the kernel's own documented defaults for
    /// every setting the usual baseline changes, never the host's values), for comparing the two
    /// with `netconform diff`.
    pub baseline: Option<crate::topology::sysctl::Baseline>,
    /// How many processes and threads the scenario's programs may have at once (default 4096;
    /// RLIMIT_NPROC of each program, counted in the sandbox's user namespace; the harness keeps
    /// room of its own beyond it).
    pub max_processes: Option<u64>,
    /// How much memory each of the scenario's programs may allocate, in MiB (default 4096;
    /// RLIMIT_DATA): a runaway program fails its allocation instead of exhausting the host.
    pub max_memory_mb: Option<u64>,
}

/// A node: one network namespace. Its device tables (`vxlans`, `bonds`, ...) come from the
/// device registry ([`crate::device::device_kinds`]), one field per kind.
macro_rules! node_model {
    ($($table:ident: $variant:ident = $module:ident::$model:ident, $doc:literal;)*) => {
        #[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct Node {
            #[serde(default)]
            pub sysctl: BTreeMap<String, SysctlValue>,
            #[serde(default)]
            pub bridges: BTreeMap<String, Bridge>,
            $(
                #[doc = $doc]
                #[serde(default)]
                pub $table: BTreeMap<String, crate::device::$module::$model>,
            )*
            #[serde(default)]
            pub routes: Vec<Route>,
            /// Policy routing rules (`ip rule`).
            #[serde(default)]
            pub rules: Vec<Rule>,
            #[serde(default)]
            pub run: Vec<Vec<String>>,
            /// Ports the harness itself listens on, on every address of the node (both families),
            /// before any probe runs: `["tcp:80", "udp:53"]`. A listener answers with its node's name
            /// and the client address it saw.
            #[serde(default)]
            pub listen: Vec<String>,
            /// Long-running programs, started after the `run` lines and before the probes, killed when
            /// the run ends.
            #[serde(default)]
            pub services: Vec<crate::expect::exec::Service>,
            /// The node's private files, by absolute path: written before its `run` lines, seen at
            /// exactly that path by the node's run lines, services and commands, and by nothing
            /// else (not the host, not other nodes). A node with files or services also has a
            /// `/run` of its own.
            #[serde(default)]
            pub files: BTreeMap<String, String>,
        }

        impl Node {
            /// Its device tables, for the device kinds' validation and tools.
            pub(crate) fn devices(&self) -> crate::device::Tables<'_> {
                crate::device::Tables {
                    $($table: &self.$table,)*
                }
            }

            /// The node without device `name` of `table`.
            pub(crate) fn remove_device(&mut self, table: crate::device::Table, name: &str) {
                match table {
                    $(crate::device::Table::$variant => drop(self.$table.remove(name)),)*
                }
            }
        }
    };
}
crate::device::device_kinds!(node_model);

/// Sysctl values are written as text; integers and booleans are accepted for convenience.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum SysctlValue {
    Text(String),
    Int(i64),
    Bool(bool),
}

impl SysctlValue {
    pub(crate) fn as_text(&self) -> String {
        match self {
            SysctlValue::Text(s) => s.clone(),
            SysctlValue::Int(i) => i.to_string(),
            SysctlValue::Bool(b) => u8::from(*b).to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    #[serde(default)]
    pub addresses: Vec<String>,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    /// Forward by VLAN (`ip link add ... type bridge vlan_filtering 1`).
    #[serde(default)]
    pub vlan_filtering: bool,
    /// The VLANs of its ports (or of the bridge itself, by its own name), each port exactly
    /// those listed.
    #[serde(default)]
    pub vlans: BTreeMap<String, Vec<crate::device::bridge_vlan::PortVlan>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub to: String,
    pub via: Option<String>,
    pub dev: Option<String>,
    pub metric: Option<u32>,
    /// The preferred source address for packets this route sends (`ip route ... src`).
    pub src: Option<String>,
    /// The routing table (`ip route add ... table N`): default the main table (254).
    pub table: Option<u32>,
}

/// A policy routing rule: `ip rule add [from P] [to P] [iif DEV] [fwmark N] table N [priority N]`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The source address or network the rule matches.
    pub from: Option<String>,
    /// The destination address or network the rule matches.
    pub to: Option<String>,
    /// The interface packets came in by (`lo` for the node's own).
    pub iif: Option<String>,
    /// The firewall mark (set by iptables/nft `MARK`).
    pub fwmark: Option<u32>,
    /// The table to look the route up in.
    pub table: u32,
    /// The rule's place: lower runs first (default: the kernel's, just before the main table).
    pub priority: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub a: LinkEnd,
    pub b: LinkEnd,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkEnd {
    pub node: String,
    pub name: String,
    #[serde(default)]
    pub addresses: Vec<String>,
    pub mac: Option<String>,
    pub bridge: Option<String>,
    pub mtu: Option<u32>,
}

/// The expectations: one list per kind (`[[expect.ping]]`, ...), the fields made from the
/// expectation registry ([`crate::expect::expect_kinds`]).
macro_rules! expect_model {
    ($($key:ident: $variant:ident = $module:ident::$kind:ident, $doc:literal;)*) => {
        #[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct Expect {
            $(
                #[doc = $doc]
                #[serde(default)]
                pub $key: Vec<<crate::expect::$module::$kind as crate::expect::ExpectKind>::Model>,
            )*
        }

        impl Expect {
            /// Every kind's list.
            pub(crate) fn lists(&self) -> crate::expect::Lists<'_> {
                crate::expect::Lists {
                    $($key: &self.$key,)*
                }
            }
        }
    };
}
crate::expect::expect_kinds!(expect_model);

/// The JSON Schema of the scenario format, generated from these types, for editors (Taplo and
/// Even Better TOML read it through a `#:schema` directive) and tools. `netconform schema` prints
/// it; `schema/netconform.schema.json` is the committed copy.
pub fn schema() -> serde_json::Value {
    let mut s = schemars::schema_for!(ScenarioFile).to_value();
    if let Some(o) = s.as_object_mut() {
        o.insert("title".into(), "netconform scenario".into());
        o.insert(
            "description".into(),
            "A network declared in TOML and what must happen in it: see the netconform README."
                .into(),
        );
    }
    s
}
