using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Executor.Sandbox;

/// <summary>What the services of one runner host share between themselves, and nobody else holds (Host:*).</summary>
public sealed class InternalAccessOptions
{
    public const string Section = "Host";

    /// <summary>
    /// The credential RunnerService and PrewarmService of this host present to each other: their HTTP endpoints answer
    /// nothing else (the gateway's rules do not apply there, and anyone on the machine can reach their ports). The
    /// AppHost makes one per host at every start; docker-compose takes EXECUTOR_INTERNAL_TOKEN.
    /// </summary>
    [Required]
    [MinLength(16)]
    public string InternalToken { get; set; } = "";
}

/// <summary>Every route of a runner host's service but its probes requires the host's internal token.</summary>
public static class InternalAccess
{
    public const string Header = "X-Executor-Internal-Token";

    public static WebApplication UseInternalAccess(this WebApplication app)
    {
        var expected = Encoding.UTF8.GetBytes(app.Services.GetRequiredService<IOptions<InternalAccessOptions>>().Value.InternalToken);
        app.Use(async (context, next) =>
        {
            // Probes stay open for orchestrators; they say whether the service is ready and why, nothing a caller could use.
            if (context.Request.Path.StartsWithSegments("/health") || context.Request.Path.StartsWithSegments("/alive")
                || CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(context.Request.Headers[Header].ToString()), expected))
            {
                await next(context);
                return;
            }
            await TypedResults.Problem(
                statusCode: StatusCodes.Status401Unauthorized,
                type: "urn:executor:problem:internal-credential-required",
                title: "Internal endpoint",
                detail: $"This service answers only the other services of its runner host, which present {Header}.").ExecuteAsync(context);
        });
        return app;
    }
}
