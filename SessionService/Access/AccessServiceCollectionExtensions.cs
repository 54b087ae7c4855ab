using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Executor.Session.Uploads;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace Executor.Session.Access;

/// <summary>
/// Who may run code, with what ASP.NET Core provides: an authentication handler for API keys, authorization policies
/// (every route needs an allowed caller; operators' routes need an operator), and the rate limiting middleware
/// partitioned by caller (runs per minute). Quotas that must hold across replicas (runs at once, sessions queued) are
/// counted in the store (<see cref="QuotaGate"/>).
/// </summary>
public static partial class AccessServiceCollectionExtensions
{
    public const string OperatorPolicy = "operator";
    public const string RunsPolicy = "runs";

    public static IHostApplicationBuilder AddAccess(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AuthOptions>()
            .BindConfiguration(AuthOptions.Section)
            .Configure<IConfiguration>((options, configuration) =>
                options.OperatorKey = configuration["EXECUTOR_OPERATOR_KEY"] is { Length: > 0 } key ? key : options.OperatorKey)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddMemoryCache();
        builder.Services.AddSingleton<FailedAuthLimiter>();
        builder.Services.AddSingleton<QuotaGate>();
        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorizationBuilder()
            // Every route needs an allowed caller unless it says otherwise (health, docs, the hosts' protocol).
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().AddRequirements(new AllowedCallerRequirement()).Build())
            .AddPolicy(OperatorPolicy, policy => policy.RequireAuthenticatedUser().RequireRole(Roles.Operator));
        builder.Services.AddSingleton<IAuthorizationHandler, AllowedCallerHandler>();
        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(RunsPolicy, context =>
            {
                var options = context.RequestServices.GetRequiredService<IOptions<AuthOptions>>().Value;
                var caller = Caller.Of(context, options);
                return RateLimitPartition.GetSlidingWindowLimiter(caller.Id, _ => new SlidingWindowRateLimiterOptions
                {
                    PermitLimit = caller.Quotas.RunsPerMinute ?? options.Defaults.RunsPerMinute,
                    Window = TimeSpan.FromSeconds(options.RateWindowSeconds),
                    SegmentsPerWindow = 6,
                    QueueLimit = 0,
                });
            });
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                var retry = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(10);
                var seconds = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds));
                var response = rejected.HttpContext.Response;
                response.StatusCode = StatusCodes.Status429TooManyRequests;
                response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                await response.WriteAsJsonAsync(Problems.Create(StatusCodes.Status429TooManyRequests, "quota-runs-per-minute", "Too many runs",
                    $"This key may start {RunsPerWindow(rejected.HttpContext)} runs per {rejected.HttpContext.RequestServices.GetRequiredService<IOptions<AuthOptions>>().Value.RateWindowSeconds} s; "
                    + $"retry in {seconds} s."), (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json", cancellationToken);
            };
        });
        builder.Services.Configure<ForwardedHeadersOptions>(forwarded =>
        {
            // The gateway says who called, and which host and scheme they named; only trusted proxies are believed
            // (loopback, and what Auth:TrustedProxies adds), and only the last entry (the gateway's own): entries a client
            // or another proxy put before it stay in the headers, where the open mode's gate sees them (OpenModeGate).
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedHost | ForwardedHeaders.XForwardedProto;
            forwarded.ForwardLimit = 1;
        });
        builder.Services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<AuthOptions>>((forwarded, auth) =>
        {
            foreach (var proxy in auth.Value.TrustedProxies)
            {
                if (proxy.Contains('/', StringComparison.Ordinal))
                {
                    forwarded.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(proxy));
                }
                else
                {
                    forwarded.KnownProxies.Add(IPAddress.Parse(proxy));
                }
            }
        });
        builder.Services.AddHostedService<OpenModeWarning>();
        return builder;
    }

    /// <summary>The client's address from the gateway, authentication, the open mode's gate, authorization, then rate limits: in that order.</summary>
    public static WebApplication UseAccess(this WebApplication app)
    {
        app.UseForwardedHeaders();
        app.UseAuthentication();
        app.UseOpenModeGate();
        app.UseAuthorization();
        app.UseRateLimiter();
        return app;
    }

    private static int RunsPerWindow(HttpContext context)
    {
        var options = context.RequestServices.GetRequiredService<IOptions<AuthOptions>>().Value;
        return Caller.Of(context, options).Quotas.RunsPerMinute ?? options.Defaults.RunsPerMinute;
    }

    /// <summary>A caller with a valid key; in the open mode also a caller without one, from this machine (see <see cref="OpenModeGate"/>).</summary>
    private sealed class AllowedCallerRequirement : IAuthorizationRequirement;

    private sealed class AllowedCallerHandler(IOptions<AuthOptions> options) : AuthorizationHandler<AllowedCallerRequirement>
    {
        protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, AllowedCallerRequirement requirement)
        {
            var http = context.Resource as HttpContext;
            if (context.User.Identity?.IsAuthenticated == true || (http is not null && OpenModeGate.Admits(http, options.Value)))
            {
                context.Succeed(requirement);
            }
            return Task.CompletedTask;
        }
    }

    /// <summary>Says, at start, that the open mode lets anonymous callers in (from loopback).</summary>
    private sealed partial class OpenModeWarning(IOptions<AuthOptions> options, ILogger<OpenModeWarning> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (!options.Value.Required)
            {
                LogOpen();
            }
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(Level = LogLevel.Warning, Message = "Auth:Mode is open: callers without a key are let in from loopback (this machine) as "
            + "'anonymous', with the default quotas. Set EXECUTOR_OPERATOR_KEY (or Auth:Mode=required) before exposing the service")]
        private partial void LogOpen();
    }
}
