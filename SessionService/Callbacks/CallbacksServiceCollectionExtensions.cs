using Executor.Session.Access;
using Executor.Session.Apis;
using Executor.Session.Storage;
using Executor.Session.Uploads;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Executor.Session.Callbacks;

public static class CallbacksServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddCallbacks(this IHostApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        builder.Services.AddOptions<CallbackOptions>()
            .BindConfiguration(CallbackOptions.Section)
            .PostConfigure(options =>
                options.SigningSecret = configuration["EXECUTOR_CALLBACK_SECRET"] is { Length: > 0 } secret ? secret : options.SigningSecret)
            .ValidateDataAnnotations()
            .Validate(options => CallbackSigner.IsValidSecret(options.SigningSecret), "Callbacks:SigningSecret starts with whsec_ but the rest is not base64")
            .Validate(options => options.PerDestinationConcurrency <= options.Concurrency,
                "Callbacks:PerDestinationConcurrency must not exceed Callbacks:Concurrency")
            .ValidateOnStart();
        builder.Services.AddSingleton(sp => new CallbackAddressGuard(sp.GetRequiredService<IOptionsMonitor<CallbackOptions>>()));
        builder.Services.AddHostedService<CallbackDispatcher>();
        return builder;
    }

    /// <summary>The problem for a callback_url that cannot be used, or null when it can (or none was given).</summary>
    public static async Task<ProblemDetails?> CheckCallbackAsync(
        this CallbackAddressGuard guard, string? url, CallbackOptions options, CancellationToken cancellationToken)
    {
        if (url is null)
        {
            return null;
        }
        if (string.IsNullOrEmpty(options.SigningSecret))
        {
            return Problems.Create(StatusCodes.Status400BadRequest, "callbacks-disabled", "Callbacks are not configured",
                "This server has no callback signing secret (EXECUTOR_CALLBACK_SECRET or Callbacks:SigningSecret), so it sends no callbacks: poll "
                + "GET /result/{session_id} or follow GET /result/{session_id}/events instead.");
        }
        return await guard.CheckAsync(url, cancellationToken) is { } why
            ? Problems.Create(StatusCodes.Status400BadRequest, "callback-refused", "Refused callback_url", $"callback_url '{url}' is refused: {why}.")
            : null;
    }

    /// <summary>GET /result/{id}/callback: how the session's callback is going.</summary>
    public static IEndpointRouteBuilder MapCallbacksApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/result/{session_id}/callback", GetCallbackAsync)
            .WithName("GetCallback")
            .WithTags("Sessions")
            .WithSummary("Shows how a session's callback is going")
            .WithDescription("state: pending (the session runs, or a retry is due), delivered, or failed (given up); attempts so far and the last error.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    public static async Task<Results<Ok<CallbackStatus>, ProblemHttpResult>> GetCallbackAsync(
        [FromRoute(Name = "session_id")] string sessionId, HttpContext context, ISessionStore store, ICallbackOutbox outbox,
        IOptions<AuthOptions> auth, CancellationToken cancellationToken)
    {
        if (await SessionsApi.FindOwnedAsync(sessionId, context, store, auth.Value, cancellationToken) is null)
        {
            return TypedResults.Problem(Problems.SessionNotFound(sessionId));
        }
        return await outbox.FindCallbackAsync(sessionId, cancellationToken) is { } callback
            ? TypedResults.Ok(new CallbackStatus(callback.Url, callback.State, callback.Attempts, callback.LastError, callback.DeliveredAt))
            : TypedResults.Problem(Problems.Create(StatusCodes.Status404NotFound, "no-callback", "No callback",
                $"Session '{sessionId}' was submitted without a callback_url."));
    }
}

/// <summary>A session's callback: where it goes, and how it is going.</summary>
public sealed record CallbackStatus(string Url, string State, int Attempts, string? LastError, DateTimeOffset? DeliveredAt);
