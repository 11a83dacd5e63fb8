//! Throttling decisions for the gateway's requests and messages: the
//! node-local levels at once, then any cluster-wide levels in Redis (see
//! `throttle` for the levels, `cluster::throttle` for the script).
//!
//! While Redis cannot answer, a cluster limit follows `[throttle]
//! on_redis_down`: "open" decides on this node with its share of the limit
//! (the limit divided by the live nodes it last counted), "closed" throttles.
//! Either way the decision is counted in
//! `sockgate_throttle_fallbacks_total{stage}`, and nothing waits longer than
//! `cluster.request_timeout`.

use super::{Gateway, Stage};
use crate::clock;
use crate::snapshot::Snapshot;
use crate::throttle::{self, Level, Shared, Subject};

impl Gateway {
    /// Takes a token at every node-local level that applies; the level that
    /// throttled (counted), or the cluster levels left for
    /// [`Gateway::throttle_shared`].
    pub fn throttle(
        &self,
        snap: &Snapshot,
        stage: &Stage,
        subject: &Subject<'_>,
    ) -> Result<Vec<Shared>, Level> {
        let checked = throttle::check(
            self.throttles(),
            snap.account_limit.as_ref(),
            &stage.limits,
            subject,
            clock::mono_ns(),
        );
        if let Err(level) = checked {
            stage.metrics.throttled(level);
        }
        checked
    }

    /// Decides the cluster-wide levels: each is one script call, and they are
    /// sent together, so a request waits for one Redis round trip however
    /// many of its levels are the cluster's. The first level (in order) that
    /// refuses is the answer.
    pub async fn throttle_shared(
        &self,
        snap: &Snapshot,
        stage: &Stage,
        shared: Vec<Shared>,
    ) -> Result<(), Level> {
        let decisions = shared
            .iter()
            .map(|s| self.decide_shared(snap, Some(stage), s));
        let allowed = futures_util::future::join_all(decisions).await;
        match shared.iter().zip(allowed).find(|(_, ok)| !ok) {
            Some((s, _)) => {
                stage.metrics.throttled(s.level);
                Err(s.level)
            }
            None => Ok(()),
        }
    }

    /// One cluster-wide level: Redis's answer, or the fail mode's (counted on
    /// the stage, when there is one).
    async fn decide_shared(&self, snap: &Snapshot, stage: Option<&Stage>, s: &Shared) -> bool {
        let decided = match (self.delivery().cluster(), s.quota) {
            (Some(c), Some(q)) => {
                let (_, end) = throttle::quota::bounds(q.period, clock::now_ms());
                c.quota(&s.key, q.limit, end).await.ok()
            }
            (Some(c), None) => c.throttle(&s.key, &s.gcra).await.ok(),
            (None, _) => None,
        };
        decided.unwrap_or_else(|| {
            if let Some(stage) = stage {
                stage.metrics.throttle_fallback();
            }
            snap.throttle_fail_open && self.fallback(s)
        })
    }

    /// Takes a token at the account level alone (@connections calls, which
    /// AWS counts against the account).
    pub async fn throttle_account(&self, snap: &Snapshot) -> bool {
        let Some(g) = &snap.account_limit else {
            return true;
        };
        if !g.is_cluster() {
            return self.throttles().account.allow(g, clock::mono_ns());
        }
        let shared = Shared {
            level: Level::Account,
            key: "account:".to_owned(),
            gcra: *g,
            quota: None,
        };
        self.decide_shared(snap, None, &shared).await
    }

    /// This node's share of a cluster limit, while Redis is unreachable.
    fn fallback(&self, s: &Shared) -> bool {
        let nodes = self.delivery().cluster().map_or(1, |c| c.live_nodes());
        if let Some(q) = s.quota {
            let share = throttle::quota::Quota {
                limit: (q.limit / nodes as u64).max(1),
                period: q.period,
            };
            return self
                .throttles()
                .quotas
                .take(&s.key, &share, clock::now_ms());
        }
        let share = s.gcra.per_node(nodes);
        let now = clock::mono_ns();
        self.throttles().fallback.allow(&s.key, &share, now) == throttle::Keyed::Allowed
    }

    /// Both: the node-local levels, then the cluster's.
    pub async fn throttle_all(
        &self,
        snap: &Snapshot,
        stage: &Stage,
        subject: &Subject<'_>,
    ) -> Result<(), Level> {
        let shared = self.throttle(snap, stage, subject)?;
        if shared.is_empty() {
            return Ok(());
        }
        self.throttle_shared(snap, stage, shared).await
    }
}
