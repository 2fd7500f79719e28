//! Swashbuckle-like pods: plain-HTTP servers serving a document at `/swagger/v1/swagger.json`.
//! (Skeleton: the Kubernetes side fills this in.)
