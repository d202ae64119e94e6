//! The gateway layer: every request routed to its platform and tenant.
