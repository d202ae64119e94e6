//! Better Auth 1.7.25's HTTP API for one platform.
