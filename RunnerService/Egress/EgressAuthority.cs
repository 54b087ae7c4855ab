using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Executor.Runner.Egress;

/// <summary>
/// The deployment's egress certificate authority: the one the sandboxes trust (besides the system's) so that the proxy
/// can terminate their TLS to the hosts it adds a credential for. Made on first use and kept in one PEM file (key and
/// certificate) under Egress:CertificateDirectory, so every run of this host, a restarted runner, and every runner host
/// sharing that directory present the same authority. Its leaf certificates live in memory only.
/// </summary>
internal sealed class EgressAuthority : IDisposable
{
    public const string FileName = "authority.pem";

    private static readonly TimeSpan LeafLifetime = TimeSpan.FromDays(30);

    private readonly X509Certificate2 _certificate;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Lazy<SslStreamCertificateContext>> _leaves = new(StringComparer.Ordinal);

    private EgressAuthority(X509Certificate2 certificate, TimeProvider time)
    {
        _certificate = certificate;
        _time = time;
        CertificatePem = certificate.ExportCertificatePem();
    }

    /// <summary>The authority's certificate (PEM), what a sandbox adds to the certificates it trusts.</summary>
    public string CertificatePem { get; }

    /// <summary>Loads the authority from <paramref name="directory"/>, making it there first if there is none.</summary>
    public static EgressAuthority LoadOrCreate(string directory, TimeProvider time)
    {
        var path = Path.Combine(directory, FileName);
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("The egress authority's key is kept with Unix file modes.");
        }
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var temporary = path + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
            using (var created = Create(time))
            {
                var pem = created.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem() + "\n" + created.ExportCertificatePem() + "\n";
                File.WriteAllText(temporary, pem);
                File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            try
            {
                // Atomic, and never over another process's: two runners starting together agree on the first one made.
                File.Move(temporary, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                File.Delete(temporary);
            }
        }
        return new EgressAuthority(X509Certificate2.CreateFromPemFile(path), time);
    }

    /// <summary>The certificate the proxy shows a sandbox for <paramref name="host"/>, signed by this authority.</summary>
    public SslStreamCertificateContext LeafFor(string host)
    {
        var leaf = _leaves.GetOrAdd(host, h => new Lazy<SslStreamCertificateContext>(() => Issue(h)));
        if (leaf.Value.TargetCertificate.NotAfter.ToUniversalTime() < _time.GetUtcNow().UtcDateTime.AddDays(1))
        {
            _leaves.TryUpdate(host, new Lazy<SslStreamCertificateContext>(() => Issue(host)), leaf);
            return LeafFor(host);
        }
        return leaf.Value;
    }

    private static X509Certificate2 Create(TimeProvider time)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var name = new X500DistinguishedName(
            $"CN=Executor egress authority {Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}, O=Executor");
        var request = new CertificateRequest(name, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = time.GetUtcNow();
        return request.CreateSelfSigned(now.AddDays(-1), now.AddYears(10));
    }

    private SslStreamCertificateContext Issue(string host)
    {
        // Not disposed: the leaf keeps using it for as long as it is cached.
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + host.Trim('[', ']')), key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        if (IPAddress.TryParse(host.Trim('[', ']'), out var address))
        {
            names.AddIpAddress(address);
        }
        else
        {
            names.AddDnsName(host);
        }
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_certificate, true, false));
        var now = _time.GetUtcNow();
        var notAfter = now + LeafLifetime < _certificate.NotAfter ? now + LeafLifetime : new DateTimeOffset(_certificate.NotAfter);
        using var signed = request.Create(_certificate, now.AddHours(-1), notAfter, RandomNumberGenerator.GetBytes(16));
        var leaf = signed.CopyWithPrivateKey(key);
        return SslStreamCertificateContext.Create(leaf, additionalCertificates: null, offline: true);
    }

    public void Dispose() => _certificate.Dispose();
}
