//! The one egress guard. Every server-side fetch (media by URL, webhook deliveries, any
//! later sink) goes through the client built here, because every URL a caller supplies is
//! untrusted: without the guard, `media.url = http://127.0.0.1:8080/metrics` would be
//! fetched and delivered to the caller's own WhatsApp chat.
//!
//! How it holds:
//! * a literal address in a URL is checked before anything is sent (and at request time,
//!   so the caller gets a `400`);
//! * a host name is resolved by [`GuardedResolver`], which refuses the whole answer when any
//!   address in it is internal, and hands the connector only the addresses it checked (no
//!   second resolution, so DNS rebinding cannot swap the address after the check);
//! * every redirect hop is checked the same way, at most [`MAX_REDIRECTS`] of them;
//! * no proxy from the environment: a proxy would resolve the target itself, past the guard.
//!
//! The policy: internal ranges (loopback, RFC 1918, RFC 4193, link-local with the cloud
//! metadata addresses, CGNAT, multicast, unspecified, reserved) are denied by default;
//! `--egress-allow-cidrs` opens a range (how a cluster-internal webhook receiver is
//! permitted), `--egress-deny-cidrs` closes more. The most specific matching range decides;
//! on a tie an explicit deny beats an allow, and an allow beats a default.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Redirect hops a fetch may follow; each one is checked like the first URL.
pub const MAX_REDIRECTS: usize = 5;

/// Ranges no fetch reaches unless an allow range opens them.
const DEFAULT_DENY: &[&str] = &[
    // IPv4
    "0.0.0.0/8",       // "this network", unspecified
    "10.0.0.0/8",      // RFC 1918
    "100.64.0.0/10",   // CGNAT (RFC 6598)
    "127.0.0.0/8",     // loopback
    "169.254.0.0/16",  // link-local, incl. 169.254.169.254 metadata
    "172.16.0.0/12",   // RFC 1918
    "192.0.0.0/24",    // IETF protocol assignments
    "192.0.2.0/24",    // TEST-NET-1
    "192.168.0.0/16",  // RFC 1918
    "198.18.0.0/15",   // benchmarking
    "198.51.100.0/24", // TEST-NET-2
    "203.0.113.0/24",  // TEST-NET-3
    "224.0.0.0/4",     // multicast
    "240.0.0.0/4",     // reserved, broadcast
    // IPv6 (IPv4-mapped, NAT64 and 6to4 forms are checked as the IPv4 address they carry)
    "::/96",           // unspecified, loopback, IPv4-compatible
    "::ffff:0:0:0/96", // IPv4-translated (RFC 2765)
    "64:ff9b:1::/48",  // local-use NAT64 (RFC 8215)
    "2001::/32",       // Teredo: tunnels to an IPv4 address
    "100::/64",        // discard-only
    "2001:db8::/32",   // documentation
    "fc00::/7",        // unique local (RFC 4193), incl. fd00:ec2::254 metadata
    "fe80::/10",       // link-local
    "fec0::/10",       // site-local (deprecated)
    "ff00::/8",        // multicast
];

fn default_deny() -> &'static [IpNet] {
    static NETS: OnceLock<Vec<IpNet>> = OnceLock::new();
    NETS.get_or_init(|| {
        DEFAULT_DENY
            .iter()
            .map(|n| n.parse().expect("built-in ranges parse"))
            .collect()
    })
}

/// Parses `10.1.0.0/16` or a single address (`10.1.2.3`, taken as `/32` or `/128`).
pub fn parse_cidr(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("'{raw}' is not an address range like 10.0.0.0/8"))
}

/// Why a fetch was not made. Its text never carries the URL (URLs may hold tokens).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("the URL's address is not allowed by the gateway's egress policy")]
    Denied,
    #[error("the URL must be http or https with a host")]
    BadUrl,
    #[error("the URL redirected more than {MAX_REDIRECTS} times")]
    TooManyRedirects,
}

/// Which addresses server-side fetches may reach.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

impl EgressPolicy {
    pub fn new(allow: Vec<IpNet>, deny: Vec<IpNet>) -> Self {
        Self { allow, deny }
    }

    /// Whether a connection to `ip` is permitted.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = embedded_ipv4(ip);
        // (prefix length, precedence on a tie): the most specific rule decides.
        let rank = |nets: &[IpNet], precedence: u8| {
            nets.iter()
                .filter(|n| n.contains(&ip))
                .map(|n| (n.prefix_len(), precedence))
                .max()
        };
        let default = rank(default_deny(), 0).map(|r| (r, false));
        let allow = rank(&self.allow, 1).map(|r| (r, true));
        let deny = rank(&self.deny, 2).map(|r| (r, false));
        [default, allow, deny]
            .into_iter()
            .flatten()
            .max_by_key(|(r, _)| *r)
            .is_none_or(|(_, permitted)| permitted)
    }

    /// Checks a URL before it is used: scheme, host, and a literal address against the
    /// policy (a host name is checked when it is resolved).
    pub fn check_url(&self, raw: &str) -> Result<(), EgressError> {
        let url = reqwest::Url::parse(raw).map_err(|_| EgressError::BadUrl)?;
        self.check_parsed(&url)
    }

    /// A webhook as a caller sent it: well-formed, and not to a refused literal address
    /// (the contract's `400 validation_error`).
    pub fn check_webhook(
        &self,
        config: &wagate_api::WebhookConfig,
    ) -> Result<(), wagate_api::ApiError> {
        config.validate()?;
        self.check_url(&config.url)
            .map_err(|e| wagate_api::ApiError::field("webhook.url", e.to_string()))
    }

    fn check_parsed(&self, url: &reqwest::Url) -> Result<(), EgressError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(EgressError::BadUrl);
        }
        let ip = match url.host().ok_or(EgressError::BadUrl)? {
            url::Host::Domain(_) => return Ok(()),
            url::Host::Ipv4(ip) => IpAddr::V4(ip),
            url::Host::Ipv6(ip) => IpAddr::V6(ip),
        };
        if self.permits(ip) {
            Ok(())
        } else {
            Err(EgressError::Denied)
        }
    }
}

/// The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), so that
/// `[::ffff:127.0.0.1]` is judged as `127.0.0.1`.
fn embedded_ipv4(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let octets = v6.octets();
    // NAT64 well-known prefix 64:ff9b::/96.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return IpAddr::V4(Ipv4Addr::new(
            octets[12], octets[13], octets[14], octets[15],
        ));
    }
    // 6to4 2002:AABB:CCDD::/48.
    if s[0] == 0x2002 {
        return IpAddr::V4(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]));
    }
    IpAddr::V6(v6)
}

/// Looks up a host's addresses; the system resolver in production, a fixed table in tests.
pub trait Lookup: Send + Sync {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The system resolver (getaddrinfo on a blocking thread).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Resolves for reqwest and refuses an answer that holds any address the policy denies.
pub struct GuardedResolver {
    policy: Arc<EgressPolicy>,
    lookup: Arc<dyn Lookup>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let lookup = self.lookup.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let ips = lookup.lookup(host).await?;
            if ips.is_empty() || ips.iter().any(|ip| !policy.permits(*ip)) {
                return Err(Box::new(EgressError::Denied) as _);
            }
            // Port 0 is replaced by the URL's port by the connector.
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The guarded HTTP clients and their policy; one per process, cheap to clone.
#[derive(Clone)]
pub struct Egress {
    policy: Arc<EgressPolicy>,
    /// Follows checked redirects (media downloads).
    client: reqwest::Client,
    /// Follows none: a webhook delivery carries a body and its signature, which a redirect
    /// would hand to another host.
    no_redirects: reqwest::Client,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Default for Egress {
    /// The default policy over the system resolver, shared by everything that uses it.
    fn default() -> Self {
        static DEFAULT: OnceLock<Egress> = OnceLock::new();
        DEFAULT
            .get_or_init(|| Egress::new(EgressPolicy::default()))
            .clone()
    }
}

impl Egress {
    pub fn new(policy: EgressPolicy) -> Self {
        Self::with_lookup(policy, Arc::new(SystemLookup))
    }

    /// With another resolver (tests resolve public-looking names to loopback with it).
    pub fn with_lookup(policy: EgressPolicy, lookup: Arc<dyn Lookup>) -> Self {
        let policy = Arc::new(policy);
        let resolver = Arc::new(GuardedResolver {
            policy: policy.clone(),
            lookup,
        });
        let hops = policy.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(EgressError::TooManyRedirects);
            }
            match hops.check_parsed(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        });
        let build = |redirect| {
            reqwest::Client::builder()
                .user_agent(concat!("wagate/", env!("CARGO_PKG_VERSION")))
                .dns_resolver(resolver.clone())
                .redirect(redirect)
                .no_proxy()
                .connect_timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client builds with static settings")
        };
        Self {
            policy,
            client: build(redirects),
            no_redirects: build(reqwest::redirect::Policy::none()),
        }
    }

    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    /// Checks `url` and starts a request with the guarded client.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, EgressError> {
        self.checked(&self.client, method, url)
    }

    /// Like [`Egress::request`], but a redirect is an answer, not followed.
    pub fn request_no_redirects(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, EgressError> {
        self.checked(&self.no_redirects, method, url)
    }

    fn checked(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, EgressError> {
        self.policy.check_url(url)?;
        Ok(client.request(method, url))
    }
}

/// How a guarded request failed, in words that are safe to store and show a caller: no
/// URL, no response body, and no difference between a closed port, a refused connection
/// and a silent host (so error texts cannot be used to scan a network).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// The egress policy refused the address (or a redirect to one).
    Denied(EgressError),
    TimedOut,
    Unreachable,
}

impl FetchFailure {
    pub fn of(error: &reqwest::Error) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = source {
            if let Some(denied) = e.downcast_ref::<EgressError>() {
                return Self::Denied(denied.clone());
            }
            source = e.source();
        }
        if error.is_timeout() {
            Self::TimedOut
        } else {
            Self::Unreachable
        }
    }
}

impl std::fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Denied(e) => write!(f, "{e}"),
            Self::TimedOut => f.write_str("timed out"),
            Self::Unreachable => f.write_str("could not be reached"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_denied_by_default() {
        let policy = EgressPolicy::default();
        for denied in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.5",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::ffff:0:7f00:1",
            "64:ff9b:1::a00:1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(!policy.permits(ip(denied)), "{denied} permitted");
        }
        for permitted in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(policy.permits(ip(permitted)), "{permitted} denied");
        }
    }

    #[test]
    fn the_most_specific_range_decides() {
        let policy = EgressPolicy::new(
            vec![
                parse_cidr("10.0.0.0/8").unwrap(),
                parse_cidr("127.0.0.1").unwrap(),
            ],
            vec![
                parse_cidr("10.96.0.1/32").unwrap(),
                parse_cidr("1.2.3.0/24").unwrap(),
            ],
        );
        assert!(policy.permits(ip("10.1.2.3")), "allowed range");
        assert!(
            !policy.permits(ip("10.96.0.1")),
            "explicit deny inside an allow"
        );
        assert!(policy.permits(ip("127.0.0.1")) && !policy.permits(ip("127.0.0.2")));
        assert!(
            !policy.permits(ip("1.2.3.4")),
            "explicit deny of a public range"
        );
        // A tie between allow and explicit deny: deny wins.
        let tie = EgressPolicy::new(
            vec![parse_cidr("10.0.0.0/8").unwrap()],
            vec![parse_cidr("10.0.0.0/8").unwrap()],
        );
        assert!(!tie.permits(ip("10.0.0.1")));
    }

    #[test]
    fn literal_urls_are_checked_in_every_spelling() {
        let policy = EgressPolicy::default();
        for denied in [
            "http://127.0.0.1:8080/metrics",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1/",
        ] {
            assert_eq!(
                policy.check_url(denied),
                Err(EgressError::Denied),
                "{denied}"
            );
        }
        assert_eq!(
            policy.check_url("ftp://example.com/"),
            Err(EgressError::BadUrl)
        );
        assert_eq!(policy.check_url("not a url"), Err(EgressError::BadUrl));
        assert!(policy.check_url("https://cdn.example.com/a.jpg").is_ok());
        assert!(policy.check_url("http://1.1.1.1/").is_ok());
    }

    /// A resolver that answers every name with one address, as a rebinding attacker's DNS
    /// would.
    struct AlwaysResolvesTo(IpAddr);

    impl Lookup for AlwaysResolvesTo {
        fn lookup(&self, _host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
            let ip = self.0;
            Box::pin(async move { Ok(vec![ip]) })
        }
    }

    /// A loopback server that counts the requests that reach it.
    async fn counting_server() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut request = [0u8; 2048];
                let _ = socket.read(&mut request).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
            }
        });
        (port, hits)
    }

    #[tokio::test]
    async fn a_public_looking_name_resolving_inside_is_never_connected_to() {
        use std::sync::atomic::Ordering;
        let (port, hits) = counting_server().await;
        let loopback = Arc::new(AlwaysResolvesTo("127.0.0.1".parse().unwrap()));
        let guarded = Egress::with_lookup(EgressPolicy::default(), loopback.clone());
        let url = format!("http://media.example.com:{port}/a.jpg");
        let error = guarded
            .request(reqwest::Method::GET, &url)
            .unwrap()
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            FetchFailure::of(&error),
            FetchFailure::Denied(EgressError::Denied)
        );
        assert!(!FetchFailure::of(&error).to_string().contains("example"));
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "the internal server was reached"
        );
        // A literal address never gets as far as a request.
        for literal in [
            format!("http://127.0.0.1:{port}/a.jpg"),
            format!("http://[::ffff:127.0.0.1]:{port}/a.jpg"),
        ] {
            assert_eq!(
                guarded.request(reqwest::Method::GET, &literal).err(),
                Some(EgressError::Denied),
                "{literal}"
            );
        }

        // The same name with loopback allowed is fetched: the refusal above is the policy.
        let open = Egress::with_lookup(
            EgressPolicy::new(vec![parse_cidr("127.0.0.0/8").unwrap()], vec![]),
            loopback,
        );
        let answer = open
            .request(reqwest::Method::GET, &url)
            .unwrap()
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn cidrs_parse_with_or_without_a_prefix() {
        assert_eq!(parse_cidr("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        assert_eq!(
            parse_cidr(" 10.1.2.3/16 ").unwrap().to_string(),
            "10.1.0.0/16"
        );
        assert_eq!(parse_cidr("::1").unwrap().to_string(), "::1/128");
        assert!(parse_cidr("10.0.0.0/33").is_err() && parse_cidr("nope").is_err());
    }
}
