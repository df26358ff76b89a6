use chrono::{DateTime, Utc};

use super::{CloudId, ContainerRef, ObjectRef};

/// How an event reached us (kept in the inbox for replay and diagnosis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiveMode {
    Structured,
    Binary,
    Batch,
    Plain,
    /// Not an event: an app's observation of Atlassian's policy header.
    Observation,
}

impl ReceiveMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Structured => "structured",
            Self::Binary => "binary",
            Self::Batch => "batch",
            Self::Plain => "plain",
            Self::Observation => "observation",
        }
    }
}

/// The site an event claims to be about. v2 events name a cloudId, v1 events a
/// site URL; lifecycle events may name neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSite {
    CloudId(CloudId),
    Url(url::Url),
    Unnamed,
}

/// What an event means for aarc, whatever generation or mode it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// These objects are blocked (v1 and v2 object events).
    ObjectsBlocked(Vec<ObjectRef>),
    /// Some content inside this container is blocked. Deliberately NOT turned
    /// into object blocks: Atlassian says the event does not tell which.
    ContentBlockedInContainer(ContainerRef),
    ForgeInstalled,
    ForgeUninstalled,
    /// A type aarc does not know yet: stored as `ignored`, replayable later.
    Unknown,
}

/// One App Access Rule event, normalised.
#[derive(Debug, Clone)]
pub struct PolicyEvent {
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub time: Option<DateTime<Utc>>,
    pub site: EventSite,
    pub kind: EventKind,
    /// The event as received (structured form, as JSON text), kept in the inbox.
    pub raw: String,
}

impl PolicyEvent {
    pub fn is_ignored(&self) -> bool {
        matches!(self.kind, EventKind::Unknown)
    }

    /// How many object ids the event names (each becomes a block row).
    pub fn objects(&self) -> usize {
        match &self.kind {
            EventKind::ObjectsBlocked(objects) => objects.len(),
            _ => 0,
        }
    }
}
