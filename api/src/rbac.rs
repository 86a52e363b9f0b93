//! Every Kubernetes API call the operator and the router make, as `(API group, resource,
//! verb)`. The chart's Roles grant exactly these (a test renders the chart and compares),
//! and the tests against the fake APIs check that every call they record is listed here.
//! A new call in the code fails those tests until it is listed, and so until RBAC grants it.

/// An API group (`""` for core), a resource (with `/subresource`), a verb.
pub type ApiCall = (&'static str, &'static str, &'static str);

pub const OPERATOR_CALLS: &[ApiCall] = &[
    // The controller's watches, the finalizer (a JSON patch) and status.
    ("wagate.dev", "whatsappsessions", "get"),
    ("wagate.dev", "whatsappsessions", "list"),
    ("wagate.dev", "whatsappsessions", "watch"),
    ("wagate.dev", "whatsappsessions", "patch"),
    ("wagate.dev", "whatsappsessions/status", "patch"),
    // Server-side apply of the session's StatefulSet; owned objects are watched.
    ("apps", "statefulsets", "get"),
    ("apps", "statefulsets", "list"),
    ("apps", "statefulsets", "watch"),
    ("apps", "statefulsets", "patch"),
    // The shared headless Service (server-side apply creates it too).
    ("", "services", "patch"),
    ("", "pods", "get"),
    // Growing the volume claim, and deleting it when the resource asks to purge.
    ("", "persistentvolumeclaims", "get"),
    ("", "persistentvolumeclaims", "patch"),
    ("", "persistentvolumeclaims", "delete"),
    ("events.k8s.io", "events", "create"),
    ("events.k8s.io", "events", "patch"),
    // Leader election (kube-lease-manager).
    ("coordination.k8s.io", "leases", "get"),
    ("coordination.k8s.io", "leases", "create"),
    ("coordination.k8s.io", "leases", "patch"),
];

pub const ROUTER_CALLS: &[ApiCall] = &[
    ("wagate.dev", "whatsappsessions", "get"),
    ("wagate.dev", "whatsappsessions", "list"),
    ("wagate.dev", "whatsappsessions", "watch"),
    ("wagate.dev", "whatsappsessions", "create"),
    ("wagate.dev", "whatsappsessions", "patch"),
    ("wagate.dev", "whatsappsessions", "delete"),
    ("", "pods", "list"),
    ("", "pods", "watch"),
    // Webhook secrets the router stores for sessions it creates; it never reads a Secret
    // (the resource's annotation names the one it made).
    ("", "secrets", "create"),
    ("", "secrets", "delete"),
    // The console's session page shows the resource's events.
    ("events.k8s.io", "events", "list"),
];
