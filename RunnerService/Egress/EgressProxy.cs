using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Executor.Contracts;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Egress;

/// <summary>
/// The runner host's egress proxy: one Unix socket per run (<see cref="OpenAsync"/>), in a directory of its own that the
/// run's container mounts, so that the socket a connection arrives on says whose it is, and a run reaches nothing but
/// its own proxy (the container keeps network mode none). Each connection is one HTTP/1.1 proxy request: CONNECT for a
/// tunnel, or an absolute http:// URL forwarded to the origin. The proxy allows only the run's destinations, resolves
/// names itself and connects only to public addresses (or those in Egress:AllowedPrivateAddresses), counts bytes and
/// connections against the run's limits, and adds the operator's credentials to requests to their hosts, terminating
/// TLS for those hosts with the deployment's egress certificate authority.
/// </summary>
public sealed partial class EgressProxy : IDisposable
{
    private const int MaxRunIdLength = 40;

    private readonly EgressOptions _options;
    private readonly IPNetwork[] _allowedPrivate;
    private readonly (string Host, EgressCredential Credential)[] _credentials;
    private readonly Lazy<EgressAuthority>? _authority;
    private readonly X509Certificate2Collection _upstreamRoots = [];
    private readonly X509Certificate2Collection _upstreamIntermediates = [];

    public EgressProxy(IOptions<EgressOptions> options, TimeProvider time, ILogger<EgressProxy> logger)
    {
        _options = options.Value;
        Time = time;
        Logger = logger;
        _allowedPrivate = [.. _options.AllowedPrivateAddresses.Select(a => AddressRules.ParseNetwork(a)
            ?? throw new OptionsValidationException(EgressOptions.Section, typeof(EgressOptions), [$"'{a}' is neither an address nor a CIDR."]))];
        _credentials = [.. _options.Credentials.Select(c => (EgressDestinations.Normalize(c.Host) ?? c.Host, c))];
        if (_credentials.Length > 0)
        {
            _authority = new(() => EgressAuthority.LoadOrCreate(_options.CertificateDirectory, time));
        }
        if (_options.UpstreamCaFile is { Length: > 0 } file)
        {
            var bundle = new X509Certificate2Collection();
            bundle.ImportFromPemFile(file);
            foreach (var certificate in bundle)
            {
                (certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData) ? _upstreamRoots : _upstreamIntermediates).Add(certificate);
            }
        }
    }

    /// <summary>
    /// The deployment's egress certificate authority (PEM) that a sandbox with egress trusts, made on first use; null
    /// when no Egress:Credentials are configured: then the proxy intercepts nothing and there is no authority.
    /// </summary>
    public string? AuthorityPem => _authority?.Value.CertificatePem;

    /// <summary>What the launcher of a sandbox with egress is told: where its proxy's socket is, and the authority to trust.</summary>
    public LauncherEgress LauncherSide => new(LauncherEgress.Directory + "/" + LauncherEgress.SocketName, LauncherEgress.DefaultPort, AuthorityPem);

    /// <summary>
    /// Why a sandbox of this host cannot have egress, or null when it can. Under gVisor (runsc) a sandbox reaches a host
    /// socket only if the runtime is registered with --host-uds=open, which this host does not ask of the engine: such
    /// a run is refused rather than given a network that does not work.
    /// </summary>
    public static string? RefusalFor(string isolation) => Executor.Sandbox.SeccompProfile.IsGvisor(isolation)
        ? "Egress is not available on this runner host: it isolates sandboxes with gVisor (runsc), whose sandboxes cannot reach the "
            + "host's egress proxy. Ask for no egress, or use a host that isolates with runc."
        : null;

    internal TimeProvider Time { get; }

    internal ILogger Logger { get; }

    internal EgressAuthority? Authority => _authority?.Value;

    /// <summary>
    /// Opens a run's proxy: a directory of its own under Egress:SocketDirectory holding proxy.sock, which accepts
    /// connections until the lease is disposed. Mount <see cref="EgressLease.Directory"/> into the run's container.
    /// </summary>
    public Task<EgressLease> OpenAsync(string runId, EgressPolicy policy, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("The egress proxy serves sandboxes over Unix sockets on a Linux runner host.");
        }
        cancellationToken.ThrowIfCancellationRequested();
        const UnixFileMode Traversable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        // Made before the first run needs it, so a run never waits on key generation while its sandbox connects.
        _ = _authority?.Value;
        Directory.CreateDirectory(_options.SocketDirectory, Traversable);
        var name = new string([.. runId.Take(MaxRunIdLength).Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_')]);
        var directory = Path.Combine(_options.SocketDirectory, name + "-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
        Directory.CreateDirectory(directory, Traversable);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            // The umask may have narrowed the modes: the sandbox user (not this process's) must reach and connect to the socket.
            File.SetUnixFileMode(directory, Traversable);
            var path = Path.Combine(directory, LauncherEgress.SocketName);
            listener.Bind(new UnixDomainSocketEndPoint(path));
            File.SetUnixFileMode(path, Traversable & ~(UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)
                | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite);
            listener.Listen(128);
        }
        catch
        {
            listener.Dispose();
            Directory.Delete(directory, recursive: true);
            throw;
        }
        LogOpened(Logger, runId, directory, policy.Destinations.Count);
        return Task.FromResult(new EgressLease(this, runId, policy, directory, listener));
    }

    /// <summary>Whether the proxy may connect to <paramref name="address"/>: public, or one the operator listed.</summary>
    internal bool IsPermitted(IPAddress address)
    {
        var unmapped = AddressRules.Unmapped(address);
        return AddressRules.IsPublic(unmapped) || _allowedPrivate.Any(n => n.Contains(unmapped));
    }

    /// <summary>The credentials the operator configured for <paramref name="host"/> (any port).</summary>
    internal List<EgressCredential> CredentialsFor(string host)
    {
        var normalized = EgressDestinations.Normalize(host) ?? host;
        return [.. _credentials.Where(c => string.Equals(c.Host, normalized, StringComparison.OrdinalIgnoreCase)).Select(c => c.Credential)];
    }

    /// <summary>Upstream TLS is validated as usual, and also against Egress:UpstreamCaFile's authorities when the system's do not know it.</summary>
    internal bool ValidateUpstream(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }
        if (errors != SslPolicyErrors.RemoteCertificateChainErrors || _upstreamRoots.Count == 0 || certificate is null)
        {
            return false;
        }
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_upstreamRoots);
        custom.ChainPolicy.ExtraStore.AddRange(_upstreamIntermediates);
        if (chain is not null)
        {
            custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
        }
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.1"));
        custom.ChainPolicy.VerificationTime = Time.GetUtcNow().UtcDateTime;
        using var presented = new X509Certificate2(certificate);
        return custom.Build(presented);
    }

    public void Dispose()
    {
        if (_authority is { IsValueCreated: true })
        {
            _authority.Value.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Egress proxy for run {RunId} opened at {Directory} ({Destinations} destinations)")]
    private static partial void LogOpened(ILogger logger, string runId, string directory, int destinations);
}
