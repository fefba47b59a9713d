//! `enode://` URLs: a node's public key and its IP endpoint.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use super::error::EnodeError;
use super::keys::{decode_hex, PublicKey};

/// A node address: `enode://<128 hex digits>@<ip>:<tcp port>[?discport=<udp port>]`.
///
/// IPv6 addresses are written in brackets. `discport` is only present when
/// the UDP (discovery) port differs from the TCP port.
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlpx::Enode;
///
/// let url = "enode://ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138\
///            7574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f\
///            @[::1]:30303?discport=30301";
/// let node: Enode = url.parse().unwrap();
/// assert_eq!(node.tcp_port, 30303);
/// assert_eq!(node.udp_port, 30301);
/// assert_eq!(node.to_string(), url);
///
/// let err = "enode://abcd@127.0.0.1:30303".parse::<Enode>().unwrap_err();
/// assert_eq!(err.to_string(), "node key has 2 bytes, want 64");
/// // As the crate's error (what `?` makes of it):
/// let err = devp2p_peer::Error::from(err);
/// assert_eq!(err.to_string(), "invalid enode: node key has 2 bytes, want 64");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Enode {
    /// The node's static public key.
    pub pubkey: PublicKey,
    /// The node's IP address.
    pub ip: IpAddr,
    /// The RLPx (TCP) port.
    pub tcp_port: u16,
    /// The discovery (UDP) port.
    pub udp_port: u16,
}

impl Enode {
    /// A node reachable at `addr`, with the same UDP and TCP port.
    pub fn new(pubkey: PublicKey, addr: SocketAddr) -> Self {
        Enode {
            pubkey,
            ip: addr.ip(),
            tcp_port: addr.port(),
            udp_port: addr.port(),
        }
    }

    /// The TCP address to dial.
    pub fn tcp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.tcp_port)
    }

    /// The node ID: keccak256 of the 64-byte public key (what [`Peer::id`](crate::Peer::id)
    /// reports for this node).
    pub fn id(&self) -> crate::NodeId {
        self.pubkey.node_id()
    }
}

impl fmt::Display for Enode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "enode://{}@{}",
            self.pubkey,
            SocketAddr::new(self.ip, self.tcp_port)
        )?;
        if self.udp_port != self.tcp_port {
            write!(f, "?discport={}", self.udp_port)?;
        }
        Ok(())
    }
}

impl FromStr for Enode {
    type Err = EnodeError;

    fn from_str(s: &str) -> Result<Self, EnodeError> {
        let rest = s.strip_prefix("enode://").ok_or(EnodeError::Scheme)?;
        let (key_hex, rest) = rest.split_once('@').ok_or(EnodeError::MissingAt)?;
        let pubkey = parse_key(key_hex)?;
        let (host_port, query) = match rest.split_once('?') {
            Some((hp, q)) => (hp, Some(q)),
            None => (rest, None),
        };
        let (ip, port) = parse_host_port(host_port)?;
        let tcp_port = port
            .parse::<u16>()
            .map_err(|_| EnodeError::BadPort(port.to_string()))?;
        let mut udp_port = tcp_port;
        if let Some(query) = query {
            for param in query.split('&') {
                match param.split_once('=') {
                    Some(("discport", v)) => {
                        udp_port = v
                            .parse()
                            .map_err(|_| EnodeError::BadDiscport(v.to_string()))?;
                    }
                    _ => return Err(EnodeError::UnknownQuery(param.to_string())),
                }
            }
        }
        Ok(Enode {
            pubkey,
            ip,
            tcp_port,
            udp_port,
        })
    }
}

fn parse_key(hex: &str) -> Result<PublicKey, EnodeError> {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(EnodeError::BadHex);
    }
    if hex.len() != 128 {
        return Err(EnodeError::KeyLength(hex.len() / 2));
    }
    let mut bytes = [0u8; 64];
    decode_hex(hex, &mut bytes).map_err(|_| EnodeError::BadHex)?;
    PublicKey::from_bytes(&bytes).map_err(|_| EnodeError::KeyNotOnCurve)
}

/// Splits `1.2.3.4:30303` or `[::1]:30303` into address and port text.
fn parse_host_port(s: &str) -> Result<(IpAddr, &str), EnodeError> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| EnodeError::BadIp(s.to_string()))?;
        let ip = host
            .parse::<Ipv6Addr>()
            .map_err(|_| EnodeError::BadIp(host.to_string()))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| EnodeError::BadPort(after.to_string()))?;
        return Ok((IpAddr::V6(ip), port));
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        // No port at all; report the host first if it is not an address either.
        s.parse::<Ipv4Addr>()
            .map_err(|_| EnodeError::BadIp(s.to_string()))?;
        return Err(EnodeError::BadPort(String::new()));
    };
    let ip = host
        .parse::<Ipv4Addr>()
        .map_err(|_| EnodeError::BadIp(host.to_string()))?;
    Ok((IpAddr::V4(ip), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_without_discport_round_trips() {
        let key = super::super::keys::SecretKey::random().public_key();
        let url = format!("enode://{key}@10.0.0.1:30303");
        let n: Enode = url.parse().unwrap();
        assert_eq!(n.udp_port, 30303);
        assert_eq!(n.to_string(), url);
    }
}
