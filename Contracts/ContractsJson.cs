using System.Text.Json;

namespace Executor.Contracts;

/// <summary>The protocol's wire format: JSON with snake_case names, as the public API.</summary>
public static class ContractsJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>Header carrying a runner host's own credential (Runner:HostToken; see <see cref="HostCredentials"/>).</summary>
    public const string HostTokenHeader = "X-Executor-Host-Token";
}
