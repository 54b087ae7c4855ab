using System.Globalization;
using System.Net;

namespace Executor.Contracts;

/// <summary>
/// What a run (or a stateful sandbox) may reach through its runner host's egress proxy, as SessionService granted it:
/// every destination is within what the operator allows the caller's key. Null on a job: no network at all.
/// </summary>
/// <param name="Destinations">Normalized destinations (<see cref="EgressDestinations.Normalize"/>): host, host:port or host:*.</param>
/// <param name="MaxBytes">Bytes the run may move through the proxy, both directions together.</param>
/// <param name="MaxConnections">Connections the run may open through the proxy (refused attempts count too).</param>
public sealed record EgressPolicy(IReadOnlyList<string> Destinations, long MaxBytes, int MaxConnections);

/// <summary>One connection attempt a run made through the egress proxy, allowed or refused.</summary>
/// <param name="At">When the sandbox asked for it.</param>
/// <param name="Destination">host:port as the sandbox asked for it.</param>
/// <param name="Allowed">Whether the proxy connected it.</param>
/// <param name="Refused">Why not, when not (not_allowed, private_address, unresolved, connection_limit, byte_limit, connect_failed, bad_request).</param>
/// <param name="Address">The address the proxy resolved and connected to (or refused after resolving).</param>
/// <param name="Intercepted">Whether the proxy terminated its TLS to add the operator's credential.</param>
public sealed record EgressConnection(
    DateTimeOffset At,
    string Destination,
    bool Allowed,
    string? Refused = null,
    string? Address = null,
    long BytesSent = 0,
    long BytesReceived = 0,
    double DurationMs = 0,
    bool Intercepted = false);

/// <summary>Why the egress proxy refused a connection (<see cref="EgressConnection.Refused"/>).</summary>
public static class EgressRefusals
{
    public const string NotAllowed = "not_allowed";
    public const string PrivateAddress = "private_address";
    public const string Unresolved = "unresolved";
    public const string ConnectionLimit = "connection_limit";
    public const string ByteLimit = "byte_limit";
    public const string ConnectFailed = "connect_failed";
    public const string BadRequest = "bad_request";
}

/// <summary>
/// The egress settings (section "Egress"). SessionService reads the allow-list and the limits; each runner host reads
/// what its proxy needs (private addresses, credentials, where its sockets and certificate authority live). Runner hosts
/// never need the database, and credentials never leave the runner hosts.
/// </summary>
public sealed class EgressOptions
{
    public const string Section = "Egress";

    /// <summary>Destinations any key may ask for (host, host:port, host:*, *.domain), unless the key has its own list.</summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>Addresses or CIDRs the proxy may connect to although they are not public (loopback, private, link-local...).</summary>
    public List<string> AllowedPrivateAddresses { get; set; } = [];

    /// <summary>Default and ceiling of a run's bytes through the proxy.</summary>
    public long MaxBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Default and ceiling of a run's connections through the proxy.</summary>
    public int MaxConnections { get; set; } = 64;

    /// <summary>Headers the proxy adds to requests to a destination; the sandbox never sees them.</summary>
    public List<EgressCredential> Credentials { get; set; } = [];

    /// <summary>Where the runner host makes each run's proxy socket (a directory per run, bind-mounted into its sandbox).</summary>
    public string SocketDirectory { get; set; } = "/var/lib/executor/egress";

    /// <summary>Where the runner host keeps the deployment's egress certificate authority (made on first use).</summary>
    public string CertificateDirectory { get; set; } = "/var/lib/executor/egress-ca";

    /// <summary>A PEM bundle the proxy trusts for upstream TLS besides the system's (an internal index's authority).</summary>
    public string? UpstreamCaFile { get; set; }

    /// <summary>
    /// Lets a list be given as one value (Egress__AllowedHosts="a.example,b.example:8080", as ./run.sh passes an
    /// environment variable; the binder alone reads only Egress__AllowedHosts__0, __1...): entries split at commas and
    /// white space. <paramref name="value"/> reads a setting of the section by name.
    /// </summary>
    public void ReadListValues(Func<string, string?> value)
    {
        AllowedHosts = [.. AllowedHosts, .. Split(value(nameof(AllowedHosts)))];
        AllowedPrivateAddresses = [.. AllowedPrivateAddresses, .. Split(value(nameof(AllowedPrivateAddresses)))];
    }

    private static string[] Split(string? entries) =>
        entries?.Split([',', ' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
}

/// <summary>A header the proxy adds to every request it forwards to <see cref="Host"/> (HTTP, and HTTPS it intercepts).</summary>
public sealed class EgressCredential
{
    public string Host { get; set; } = "";
    public string Header { get; set; } = "Authorization";
    public string Value { get; set; } = "";
}

/// <summary>
/// The destinations' grammar, shared by SessionService (which checks a request against the allow-list) and the proxy
/// (which checks each connection against the run's policy). A destination is <c>host</c> (ports 80 and 443),
/// <c>host:port</c> or <c>host:*</c> (any port); host is a DNS name, <c>*.domain</c> (any name under it, not the domain
/// itself), an IPv4 address or a bracketed IPv6 address. Names compare case-insensitively, without a trailing dot.
/// </summary>
public static class EgressDestinations
{
    public const int MaxDestinations = 64;
    private const int MaxLength = 260;

    /// <summary>The destination in its one form, or null when it is not one.</summary>
    public static string? Normalize(string? destination)
    {
        if (string.IsNullOrWhiteSpace(destination) || destination.Length > MaxLength)
        {
            return null;
        }
        var text = destination.Trim().ToLowerInvariant();
        string host;
        string? port = null;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']');
            if (close < 0 || !IPAddress.TryParse(text[1..close], out var v6) || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                return null;
            }
            host = "[" + v6 + "]";
            var rest = text[(close + 1)..];
            if (rest.Length > 0)
            {
                if (!rest.StartsWith(':'))
                {
                    return null;
                }
                port = rest[1..];
            }
        }
        else
        {
            var colon = text.LastIndexOf(':');
            host = colon < 0 ? text : text[..colon];
            port = colon < 0 ? null : text[(colon + 1)..];
            host = host.TrimEnd('.');
            if (!IsHostPattern(host))
            {
                return null;
            }
        }
        if (port is null)
        {
            return host;
        }
        if (port == "*")
        {
            return host + ":*";
        }
        return int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number is > 0 and < 65536
            ? host + ":" + number.ToString(CultureInfo.InvariantCulture)
            : null;
    }

    /// <summary>Whether a connection to <paramref name="host"/>:<paramref name="port"/> is one of <paramref name="destinations"/> (normalized).</summary>
    public static bool Allows(IEnumerable<string> destinations, string host, int port)
    {
        var name = HostOf(host);
        return destinations.Any(d => Split(d) is var (pattern, ports) && HostMatches(pattern, name) && PortMatches(ports, port));
    }

    /// <summary>Whether every connection <paramref name="requested"/> allows is one <paramref name="allowed"/> allows (all normalized).</summary>
    public static bool Covers(IEnumerable<string> allowed, string requested)
    {
        var (host, ports) = Split(requested);
        return allowed.Any(a => Split(a) is var (pattern, allowedPorts)
            && (host == pattern || !host.StartsWith("*.", StringComparison.Ordinal) && HostMatches(pattern, host)
                || host.StartsWith("*.", StringComparison.Ordinal) && pattern.StartsWith("*.", StringComparison.Ordinal) && host.EndsWith(pattern[1..], StringComparison.Ordinal))
            && PortsCover(allowedPorts, ports));
    }

    private static string HostOf(string host)
    {
        var name = host.Trim().ToLowerInvariant().TrimEnd('.');
        if (name.StartsWith('[') && name.EndsWith(']') && IPAddress.TryParse(name[1..^1], out var v6))
        {
            return "[" + v6 + "]";
        }
        return IPAddress.TryParse(name, out var address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? "[" + address + "]"
            : name;
    }

    private static (string Host, string? Ports) Split(string destination)
    {
        if (destination.StartsWith('['))
        {
            var close = destination.IndexOf(']');
            return (destination[..(close + 1)], close + 1 < destination.Length ? destination[(close + 2)..] : null);
        }
        var colon = destination.LastIndexOf(':');
        return colon < 0 ? (destination, null) : (destination[..colon], destination[(colon + 1)..]);
    }

    private static bool HostMatches(string pattern, string host) =>
        pattern.StartsWith("*.", StringComparison.Ordinal)
            ? host.EndsWith(pattern[1..], StringComparison.Ordinal) && host.Length > pattern.Length - 1 && !IPAddress.TryParse(host, out _)
            : pattern == host;

    private static bool PortMatches(string? ports, int port) => ports switch
    {
        null => port is 80 or 443,
        "*" => true,
        _ => ports == port.ToString(CultureInfo.InvariantCulture),
    };

    private static bool PortsCover(string? allowed, string? requested) => allowed switch
    {
        "*" => true,
        null => requested is null or "80" or "443",
        _ => requested == allowed,
    };

    private static bool IsHostPattern(string host)
    {
        if (IPAddress.TryParse(host, out var address))
        {
            return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && host.Count(c => c == '.') == 3;
        }
        var name = host.StartsWith("*.", StringComparison.Ordinal) ? host[2..] : host;
        if (name.Length is 0 or > 253)
        {
            return false;
        }
        return name.Split('.').All(label => label.Length is > 0 and <= 63
            && label.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '_')
            && label[0] != '-' && label[^1] != '-');
    }
}

/// <summary>
/// The egress part of a launcher's job header (frames.md): present only for a run or sandbox with egress. The launcher
/// serves an HTTP proxy on the sandbox's own loopback (<see cref="Port"/>) that forwards every connection to
/// <see cref="Socket"/>, the runner host's proxy for this run (a Unix socket in a directory bind-mounted read-only), and
/// sets the usual proxy variables for the script. There is no other way out: the container keeps network mode none.
/// </summary>
/// <param name="Socket">The proxy's socket inside the sandbox.</param>
/// <param name="Port">The loopback port the launcher listens on inside the sandbox.</param>
/// <param name="Authority">The deployment's egress certificate authority (PEM) the sandbox trusts besides the system's; null when the proxy intercepts nothing.</param>
public sealed record LauncherEgress(string Socket, int Port, string? Authority)
{
    /// <summary>Where a run's proxy directory is mounted in its sandbox.</summary>
    public const string Directory = "/run/executor/egress";

    public const string SocketName = "proxy.sock";

    public const int DefaultPort = 3128;
}
