using System.Net;
using System.Net.Sockets;

namespace Executor.Contracts;

/// <summary>
/// Which addresses are the Internet's, shared by everything that connects where a caller points it (callbacks in
/// SessionService, the runner hosts' egress proxy): not loopback, private, carrier-grade NAT (Alibaba Cloud's metadata at
/// 100.100.100.200), link-local (cloud metadata at 169.254.169.254), the clouds' own service addresses (Azure's wire
/// server 168.63.129.16, Oracle's 192.0.0.192, AWS's IPv6 metadata fd00:ec2::254), multicast, reserved, documentation or
/// unspecified, in IPv4 or IPv6 (IPv4-mapped, NAT64 and 6to4 addresses are judged by the IPv4 address they carry).
/// </summary>
public static class AddressRules
{
    private static readonly IPNetwork[] NotPublic =
    [
        .. new[]
        {
            "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
            "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
            "::/96", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20", "fc00::/7", "fe80::/10",
            "fec0::/10", "ff00::/8",
            // Special-purpose ranges that route nowhere a receiver lives (AS112, AMT, the IPv6 dummy prefix, SRv6 SIDs).
            "192.31.196.0/24", "192.52.193.0/24", "192.175.48.0/24", "2620:4f:8000::/48", "100:0:0:1::/64", "5f00::/16",
            // A public address that Azure answers on from inside its network: the wire server.
            "168.63.129.16/32",
        }.Select(IPNetwork.Parse),
    ];

    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    private static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");

    /// <summary>Whether an address is one of the Internet's: none of the ranges above.</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return IsPublic(address.MapToIPv4());
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var bytes = address.GetAddressBytes();
            if (Nat64.Contains(address))
            {
                return IsPublic(new IPAddress(bytes.AsSpan(12, 4)));
            }
            if (SixToFour.Contains(address))
            {
                return IsPublic(new IPAddress(bytes.AsSpan(2, 4)));
            }
        }
        else if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            return false;
        }
        return !NotPublic.Any(network => network.Contains(address));
    }

    /// <summary>An address (a network of one) or a CIDR, as operators list them; null when it is neither.</summary>
    public static IPNetwork? ParseNetwork(string entry)
    {
        var text = entry.Trim();
        return IPAddress.TryParse(text, out var address) ? new IPNetwork(Unmapped(address), Unmapped(address).GetAddressBytes().Length * 8)
            : IPNetwork.TryParse(text, out var network) ? network
            : null;
    }

    /// <summary>An IPv4-mapped IPv6 address as the IPv4 address it carries, any other as it is.</summary>
    public static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
