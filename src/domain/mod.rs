//! Types that parse at the boundary: once built, they are valid.

mod cloud_id;
mod duration;
mod event;
mod object;
mod retention;
mod state;
mod tenant;

pub use cloud_id::CloudId;
pub use duration::HumanDuration;
pub use event::{EventKind, EventSite, PolicyEvent, ReceiveMode};
pub use object::{ContainerRef, ObjectRef, Product};
pub use retention::{RetentionAction, ReviewMode};
pub use state::ObjectState;
pub use tenant::{ClientKey, ForgeInstallation, Tenant, TenantKind};
