using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Executor.SessionCore.Callbacks;

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
}
