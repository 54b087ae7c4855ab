using Executor.Contracts;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Egress;

public static class EgressServiceCollectionExtensions
{
    /// <summary>
    /// The runner host's egress proxy (section "Egress"). Nothing is opened and no file is made until a run with egress
    /// asks for its proxy: runs without egress are untouched.
    /// </summary>
    public static IHostApplicationBuilder AddEgress(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<EgressOptions>().BindConfiguration(EgressOptions.Section)
            .PostConfigure<IConfiguration>((egress, configuration) => egress.ReadListValues(name => configuration[$"{EgressOptions.Section}:{name}"]))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<EgressOptions>, EgressOptionsValidator>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<EgressProxy>();
        return builder;
    }
}

/// <summary>The settings the proxy needs, checked when the runner starts rather than when a run first asks for egress.</summary>
internal sealed class EgressOptionsValidator : IValidateOptions<EgressOptions>
{
    /// <summary>
    /// A Unix socket's path has room for 107 bytes; a run's is SocketDirectory/&lt;run id, at most 40&gt;-&lt;12 hex&gt;/proxy.sock.
    /// </summary>
    public const int MaxSocketDirectoryLength = 40;

    public ValidateOptionsResult Validate(string? name, EgressOptions options)
    {
        var failures = new List<string>();
        if (!Path.IsPathFullyQualified(options.SocketDirectory) || options.SocketDirectory.Length > MaxSocketDirectoryLength)
        {
            failures.Add($"Egress:SocketDirectory must be an absolute path of at most {MaxSocketDirectoryLength} characters (a Unix socket's path is short), not '{options.SocketDirectory}'.");
        }
        if (!Path.IsPathFullyQualified(options.CertificateDirectory))
        {
            failures.Add($"Egress:CertificateDirectory must be an absolute path, not '{options.CertificateDirectory}'.");
        }
        if (options.UpstreamCaFile is { Length: > 0 } file && !File.Exists(file))
        {
            failures.Add($"Egress:UpstreamCaFile '{file}' does not exist.");
        }
        failures.AddRange(options.AllowedPrivateAddresses.Where(a => AddressRules.ParseNetwork(a) is null)
            .Select(a => $"Egress:AllowedPrivateAddresses: '{a}' is neither an address nor a CIDR."));
        for (var i = 0; i < options.Credentials.Count; i++)
        {
            var credential = options.Credentials[i];
            if (EgressDestinations.Normalize(credential.Host) is not { } host || host.Contains(':', StringComparison.Ordinal) && !host.EndsWith(']')
                || host.StartsWith("*.", StringComparison.Ordinal))
            {
                failures.Add($"Egress:Credentials:{i}:Host must be a host name or address without a port, not '{credential.Host}'.");
            }
            if (credential.Header.Length == 0 || !credential.Header.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                failures.Add($"Egress:Credentials:{i}:Header must be a header name, not '{credential.Header}'.");
            }
            if (credential.Value.Length == 0 || credential.Value.Any(c => c is '\r' or '\n' or '\0'))
            {
                failures.Add($"Egress:Credentials:{i}:Value must be one line of text.");
            }
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
