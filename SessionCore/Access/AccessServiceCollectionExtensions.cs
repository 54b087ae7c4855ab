using System.Net;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace Executor.SessionCore.Access;

/// <summary>
/// Who may run code, with what ASP.NET Core provides: an authentication handler for API keys, authorization policies
/// (every route needs an allowed caller; operators' routes need an operator). Quotas are applied to each run by
/// <see cref="QuotaGate"/>, on every surface: runs per minute with the rate limiting library, and what must hold across
/// replicas (runs at once, sessions queued, bytes stored) in the store, with the insert.
/// </summary>
public static partial class AccessServiceCollectionExtensions
{
    public const string OperatorPolicy = "operator";

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
        builder.Services.AddSingleton<CallerDirectory>();
        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorizationBuilder()
            // Every route needs an allowed caller unless it says otherwise (health, docs, the hosts' protocol).
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().AddRequirements(new AllowedCallerRequirement()).Build())
            .AddPolicy(OperatorPolicy, policy => policy.RequireAuthenticatedUser().RequireRole(Roles.Operator));
        builder.Services.AddSingleton<IAuthorizationHandler, AllowedCallerHandler>();
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

    /// <summary>The client's address from the gateway, authentication, the open mode's gate, then authorization: in that order.</summary>
    public static WebApplication UseAccess(this WebApplication app)
    {
        app.UseForwardedHeaders();
        app.UseAuthentication();
        app.UseOpenModeGate();
        app.UseAuthorization();
        return app;
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
