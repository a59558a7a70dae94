//! The expectation kinds, listed once. The scenario's `[[expect.*]]` keys
//! (`scenario::model::Expect`), the plan's [`Expectation`], the worker's [`Observation`], the
//! kind counts, the order of validation and every dispatch on a kind are made from the one list
//! in [`expect_kinds`], so that a new kind is its module plus one line there.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use std::time::Duration;

use super::kind::{Begun, CheckCx, ExpectKind, Known, Need, ObserveError, ProbeCx};
use super::{
    exec, fdb, inject, matrix, neighbor, outage, packets, ping, route, traceroute, transport,
};
use crate::base::diag::{Diagnostic, KeyPath};
use crate::base::validate::Validator;
use crate::base::verdict::Checked;
use crate::capture::path::{Endpoint, Probe};
use crate::network::{Names, Network};

/// The expectation kinds in validation's order, one line each: the key (`[[expect.KEY]]`), the
/// variant, the type implementing [`ExpectKind`] and the key's doc. A plan runs the probes in
/// file order whatever their kind, and reads the tables after them (see
/// [`ExpectKind::READS_TABLE`]). `$then` receives the list (see `scenario::model::Expect`).
macro_rules! expect_kinds {
    ($then:ident) => {
        $then! {
            ping: Ping = ping::Ping, "ICMP echoes from a node's own stack, and what came back.";
            traceroute: Traceroute = traceroute::Traceroute, "Echoes with growing hop limits, and who answered each.";
            tcp: Tcp = transport::Tcp, "TCP connections from a node's own stack.";
            udp: Udp = transport::Udp, "UDP datagrams from a node's own stack, answered by a listener.";
            exec: Exec = exec::Exec, "Any program in a node, its exit status and output checked.";
            route: Route = route::Route, "The kernel's route lookups (`ip route get`), after the probes.";
            neighbor: Neighbor = neighbor::Neighbor, "Entries of a node's neighbour table, after the probes.";
            fdb: Fdb = fdb::Fdb, "Entries of a bridge's forwarding table after the probes.";
            outage: Outage = outage::Outage, "A stream across a step's actions, and the longest time it was cut.";
            packets: Packets = packets::Packets, "How many captured frames at some points matched a filter, while a phase ran.";
            matrix: Matrix = matrix::Matrix, "Who can reach whom, on which port: a grid of probes, expected against observed.";
            inject: Inject = inject::Inject, "A crafted packet put on a wire, not by a node's stack: where it went and what answered.";
        }
    };
}
pub(crate) use expect_kinds;

macro_rules! registry {
    ($($key:ident: $variant:ident = $module:ident::$kind:ident, $doc:literal;)*) => {
        /// One validated expectation; the worker observes it and the parent checks it.
        #[derive(Debug, Clone, Serialize, Deserialize)]
        pub enum Expectation {
            $($variant(<$module::$kind as ExpectKind>::Want),)*
        }

        /// What the worker saw for one expectation.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub enum Observation {
            $($variant(<$module::$kind as ExpectKind>::Seen),)*
        }

        /// The `[[expect.KEY]]` keys, in validation's order.
        pub const KEYS: &[&str] = &[$(stringify!($key),)*];

        /// Whether each kind reads a table after the probes, in [`KEYS`] order.
        pub const READS_TABLE: &[bool] = &[$(<$module::$kind as ExpectKind>::READS_TABLE,)*];

        /// Each kind's entries of a file, validated, in validation's order (`lists` has one
        /// list of entries per kind, in [`KEYS`] order).
        pub(crate) struct Lists<'a> {
            $(pub $key: &'a [<$module::$kind as ExpectKind>::Model],)*
        }

        impl Lists<'_> {
            /// How many entries each kind has, in [`KEYS`] order.
            pub fn counts(&self) -> Vec<usize> {
                vec![$(self.$key.len(),)*]
            }

            /// Which entries have `within`, per kind in [`KEYS`] order.
            pub fn waits(&self) -> Vec<Vec<bool>> {
                vec![$(self.$key
                    .iter()
                    .map(|m| <$module::$kind as ExpectKind>::within(m).is_some())
                    .collect(),)*]
            }

            /// Every entry under `root` (`expect`, `steps[0].expect`) validated, kind by kind in
            /// [`KEYS`] order, each kind in file order, with its `within`. `in_step`: the
            /// entries are a step's, where kinds that run across actions are allowed.
            pub fn validate(
                &self,
                v: &mut Validator,
                k: &Known<'_>,
                root: &KeyPath,
                in_step: bool,
            ) -> Vec<Validated> {
                let mut out = Vec::new();
                $(for (i, m) in self.$key.iter().enumerate() {
                    type K = $module::$kind;
                    let path = root.key(stringify!($key)).index(i);
                    let within = timing::<K>(v, &path, m, stringify!($key), in_step);
                    if let Some(w) = <K as ExpectKind>::validate(v, k, &path, m) {
                        out.push(Validated { exp: Expectation::$variant(w), within });
                    }
                })*
                out
            }
        }

        impl Expectation {
            /// The kind's place in [`KEYS`].
            pub fn kind_index(&self) -> usize {
                let mut i = 0;
                $(if matches!(self, Expectation::$variant(_)) {
                    return i;
                }
                i += 1;)*
                let _ = i;
                unreachable!("every variant is listed")
            }

            /// The expectation in words, as its verdict names it.
            pub fn what(&self, net: &Network) -> String {
                match self {
                    $(Expectation::$variant(w) => <$module::$kind as ExpectKind>::what(w, net),)*
                }
            }

            /// Where a probe that sends packets starts, and where it is addressed.
            pub fn sends(&self) -> Option<(usize, Endpoint)> {
                match self {
                    $(Expectation::$variant(w) => <$module::$kind as ExpectKind>::sends(w),)*
                }
            }

            /// A socket it needs in a node before any probe.
            pub fn needs(&self) -> Option<(usize, Need)> {
                match self {
                    $(Expectation::$variant(w) => <$module::$kind as ExpectKind>::needs(w),)*
                }
            }

            /// It runs across a step's actions: begun before them.
            pub fn across_actions(&self) -> bool {
                match self {
                    $(Expectation::$variant(_) => <$module::$kind as ExpectKind>::ACROSS_ACTIONS,)*
                }
            }

            /// Starts what runs across a step's actions (see [`ExpectKind::begin`]).
            pub fn begin(&self, k: usize, cx: &mut ProbeCx<'_>) -> Result<Option<Begun>, ObserveError> {
                match self {
                    $(Expectation::$variant(w) => <$module::$kind as ExpectKind>::begin(w, k, cx),)*
                }
            }

            /// Its packets are ICMP echoes, known by their id.
            pub fn echo(&self) -> bool {
                match self {
                    $(Expectation::$variant(_) => <$module::$kind as ExpectKind>::ECHO,)*
                }
            }

            /// It reads every frame of the run.
            pub fn all_frames(&self) -> bool {
                match self {
                    $(Expectation::$variant(_) => <$module::$kind as ExpectKind>::ALL_FRAMES,)*
                }
            }

            /// Its packets are captured in a window of its own.
            pub fn window(&self) -> bool {
                match self {
                    $(Expectation::$variant(_) => <$module::$kind as ExpectKind>::WINDOW,)*
                }
            }

            /// Its answer comes from the destination's kernel at once (see [`ExpectKind::kernel_answers`]).
            pub fn kernel_answers(&self) -> bool {
                match self {
                    $(Expectation::$variant(w) => <$module::$kind as ExpectKind>::kernel_answers(w),)*
                }
            }

            /// Every hop of its way may need a neighbour entry.
            pub fn every_hop(&self) -> bool {
                match self {
                    $(Expectation::$variant(_) => <$module::$kind as ExpectKind>::EVERY_HOP,)*
                }
            }

            /// How probe `k`'s packets are told apart in captures.
            pub fn traced<'a>(&self, k: usize, echo_ids: &'a BTreeSet<u16>) -> Probe<'a> {
                match self {
                    $(Expectation::$variant(w) => {
                        <$module::$kind as ExpectKind>::traced(w, k, echo_ids)
                    })*
                }
            }

            /// The worker's side: probe `k`, or read its table.
            pub fn observe(&self, k: usize, cx: &mut ProbeCx<'_>) -> Result<Observation, ObserveError> {
                Ok(match self {
                    $(Expectation::$variant(w) => {
                        Observation::$variant(<$module::$kind as ExpectKind>::observe(w, k, cx)?)
                    })*
                })
            }

            /// Its observation checked; an observation of another kind is an internal error.
            pub fn check(&self, o: &Observation, cx: &CheckCx<'_>) -> Checked {
                match (self, o) {
                    $((Expectation::$variant(w), Observation::$variant(seen)) => {
                        <$module::$kind as ExpectKind>::check(w, seen, cx)
                    })*
                    #[allow(unreachable_patterns)] // one kind would leave no other
                    _ => Checked::new(self.what(cx.net), false, format!(
                            "internal error: observation {o:?} does not match the expectation"
                        )),
                }
            }

            /// The program the deadline killed while it ran.
            pub fn held_up(&self, o: &Observation, net: &Network) -> Option<String> {
                match (self, o) {
                    $((Expectation::$variant(w), Observation::$variant(seen)) => {
                        <$module::$kind as ExpectKind>::held_up(w, seen, net)
                    })*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            /// The table it read, for the report: its title and rows.
            pub fn table(
                &self,
                o: &Observation,
                net: &Network,
                names: &Names,
            ) -> Option<(String, Vec<String>)> {
                match (self, o) {
                    $((Expectation::$variant(w), Observation::$variant(seen)) => {
                        <$module::$kind as ExpectKind>::table(w, seen, net, names)
                    })*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            /// The last probe sequence number its report shows.
            pub fn last_seq(&self, o: Option<&Observation>) -> u16 {
                match (self, o) {
                    $((Expectation::$variant(w), Some(Observation::$variant(seen))) => {
                        <$module::$kind as ExpectKind>::last_seq(w, seen)
                    })*
                    _ => u16::MAX,
                }
            }

            /// Each cell's packets, for a probe of many cells (see [`ExpectKind::cells`]).
            pub fn cells(
                &self,
                o: &Observation,
                frames: &[&crate::capture::Frame],
                topo: &crate::capture::path::Topo,
            ) -> Vec<super::kind::CellFlows> {
                match (self, o) {
                    $((Expectation::$variant(w), Observation::$variant(seen)) => {
                        <$module::$kind as ExpectKind>::cells(w, seen, frames, topo)
                    })*
                    #[allow(unreachable_patterns)]
                    _ => Vec::new(),
                }
            }

            /// Each cell's protocol, mark and destination (see [`ExpectKind::cell_marks`]).
            pub fn cell_marks(&self, k: usize, pool: u16) -> Vec<super::kind::CellMark> {
                match self {
                    $(Expectation::$variant(w) => <$module::$kind as ExpectKind>::cell_marks(w, k, pool),)*
                }
            }

            /// The transport protocol its report names, for a port probe.
            pub fn proto_word(&self) -> Option<&'static str> {
                match self {
                    $(Expectation::$variant(w) => <$module::$kind as ExpectKind>::proto_word(w),)*
                }
            }

            /// Programs it runs.
            pub fn programs(&self) -> Vec<String> {
                match self {
                    $(Expectation::$variant(w) => <$module::$kind as ExpectKind>::programs(w),)*
                }
            }
        }
    };
}

expect_kinds!(registry);

/// One validated entry and how long it may be re-probed until it holds.
#[derive(Debug, Clone)]
pub struct Validated {
    pub exp: Expectation,
    pub within: Option<Duration>,
}

/// An entry's `within`, checked: a duration, on a kind that may be re-probed; and a kind that
/// runs across a step's actions only in a step.
fn timing<K: ExpectKind>(
    v: &mut Validator,
    path: &KeyPath,
    m: &K::Model,
    key: &str,
    in_step: bool,
) -> Option<Duration> {
    if K::ACROSS_ACTIONS && !in_step {
        v.push(
            Diagnostic::new(
                path.clone(),
                format!("`{key}` runs across a step's actions, and there are none before the first step"),
            )
            .hint(format!("write it as [[steps.expect.{key}]] under the [[steps]] whose actions it measures")),
        );
    }
    let text = K::within(m)?;
    let wpath = path.key("within");
    if !K::WITHIN {
        v.push(
            Diagnostic::new(
                wpath,
                format!("`{key}` cannot be re-probed: `within` does not apply"),
            )
            .hint("remove `within`; its limits are its own keys"),
        );
        return None;
    }
    match crate::base::duration::parse(text) {
        Ok(d) => Some(d),
        Err(e) => {
            v.push(Diagnostic::new(wpath, e.to_string()).hint(crate::base::duration::HINT));
            None
        }
    }
}
