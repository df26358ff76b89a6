//! The install state of Connect tenants as the writers last read it. A group
//! whose senders are all remembered is checked against that state, and its
//! statement writes only if the tenants table still says the same
//! (`tenants::Unchanged`); otherwise the group is written the long way, after
//! a fresh read. The memory saves the read before every group — a round trip
//! to the database, a seventh of a group's time there — and never decides
//! alone: what is stored was checked against the table as it was when written.
//!
//! Forge senders are not remembered: their requests register or refresh the
//! installation, a write that comes before the events' own.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::tenants::InstallState;

/// Beyond this many tenants the memory is emptied and refilled on demand.
const MAX_REMEMBERED: usize = 10_000;

/// (kind, key) of a tenant, as the tenants table names it.
pub type TenantKey = (String, String);

#[derive(Default)]
pub struct RememberedTenants {
    states: Mutex<HashMap<TenantKey, InstallState>>,
}

impl RememberedTenants {
    /// The remembered state of every sender, or `None` if one is not
    /// remembered or is not a Connect tenant.
    pub fn recall(&self, senders: &[(&str, &str)]) -> Option<HashMap<TenantKey, InstallState>> {
        let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        let mut recalled = HashMap::with_capacity(1);
        for &(kind, key) in senders {
            if kind != "connect" {
                return None;
            }
            let name = (kind.to_string(), key.to_string());
            if let std::collections::hash_map::Entry::Vacant(slot) = recalled.entry(name) {
                let state = states.get(slot.key())?.clone();
                slot.insert(state);
            }
        }
        Some(recalled)
    }

    /// Remembers the Connect tenants of a fresh read; a sender the read did
    /// not find is forgotten.
    pub fn remember(&self, senders: &[(&str, &str)], read: &HashMap<TenantKey, InstallState>) {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        if states.len() >= MAX_REMEMBERED {
            states.clear();
        }
        for &(kind, key) in senders.iter().filter(|(kind, _)| *kind == "connect") {
            let name = (kind.to_string(), key.to_string());
            match read.get(&name) {
                Some(state) => states.insert(name, state.clone()),
                None => states.remove(&name),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(installed: bool) -> InstallState {
        InstallState {
            installed,
            site_url: None,
            shared_secret: Some("s".into()),
        }
    }

    #[test]
    fn recalls_only_groups_of_remembered_connect_tenants() {
        let memory = RememberedTenants::default();
        let a = ("connect", "a");
        assert!(memory.recall(&[a]).is_none(), "nothing remembered yet");
        let read = HashMap::from([(("connect".into(), "a".into()), state(true))]);
        memory.remember(&[a, ("connect", "b")], &read);
        let recalled = memory.recall(&[a, a]).expect("a is remembered");
        assert_eq!(recalled.len(), 1);
        assert!(
            memory.recall(&[a, ("connect", "b")]).is_none(),
            "b was not found"
        );
        assert!(
            memory.recall(&[a, ("forge", "a")]).is_none(),
            "forge is never recalled"
        );
        // A later read that no longer finds `a` forgets it.
        memory.remember(&[a], &HashMap::new());
        assert!(memory.recall(&[a]).is_none());
    }
}
