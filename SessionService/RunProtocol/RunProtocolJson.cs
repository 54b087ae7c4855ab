using System.Text.Json;

namespace Executor.RunProtocol;

/// <summary>The protocol's wire format: JSON with snake_case names, as the public API.</summary>
public static class RunProtocolJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>Header carrying the shared secret of the runner hosts (Sessions:HostToken / Runner:HostToken), when one is set.</summary>
    public const string HostTokenHeader = "X-Executor-Host-Token";
}
