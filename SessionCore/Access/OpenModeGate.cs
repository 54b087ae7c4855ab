using System.Net;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Executor.SessionCore.Access;

/// <summary>
/// What "from this machine" means in the open mode, where a caller without a key is let in. Loopback alone is not enough:
/// a web page on another site can make the browser on this machine post a form (no preflight needed) or open a WebSocket,
/// a DNS name rebound to 127.0.0.1 lets a page read the answers, and a tunnel or reverse proxy on this machine (ngrok,
/// nginx) connects from loopback on behalf of anyone. So an anonymous request is let in only when it names this machine
/// (its Host is a loopback name or address), came through no proxy but the gateway (which appends to X-Forwarded-*, so a
/// client's own forwarding headers survive to here), and, when it runs code or changes state, is not cross-site. A
/// request that presents a key is judged by its key alone.
/// </summary>
public static class OpenModeGate
{
    /// <summary>Headers a proxy adds; after the gateway's own entry is consumed (UseForwardedHeaders), any left means another proxy.</summary>
    private static readonly string[] ProxyHeaders = ["X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Real-IP"];

    /// <summary>Whether an anonymous request is let in (open mode, no key, from loopback, and <see cref="Refusal"/> has nothing to say).</summary>
    public static bool Admits(HttpContext context, AuthOptions options) =>
        !options.Required
        && !ApiKeyAuthenticationHandler.PresentsKey(context.Request, options)
        && context.Connection.RemoteIpAddress is { } address && IPAddress.IsLoopback(address)
        && Refusal(context) is null;

    /// <summary>Why an anonymous request of the open mode is refused although it came from loopback, or null.</summary>
    public static ProblemDetails? Refusal(HttpContext context)
    {
        var request = context.Request;
        if (ProxyHeaders.FirstOrDefault(header => request.Headers.ContainsKey(header)) is { } proxied)
        {
            return Problems.Create(StatusCodes.Status403Forbidden, "proxied-request", "Requests through a proxy need a key",
                $"This request came through a proxy or tunnel ({proxied}): without a key, the open mode lets in only callers on this machine. "
                + "Present an API key (set EXECUTOR_OPERATOR_KEY to turn keys on) to call from elsewhere.");
        }
        if (!IsLoopbackName(request.Host.Host))
        {
            return Problems.Create(StatusCodes.Status421MisdirectedRequest, "host-not-loopback", "Not a name of this machine",
                $"Without a key, the open mode answers only requests addressed to this machine (localhost, *.localhost, 127.0.0.1, [::1]); "
                + $"this one named '{Printable(request.Host.Host)}'. Present an API key to use another name.");
        }
        if (ChangesState(context) && CrossSite(request) is { } why)
        {
            return Problems.Create(StatusCodes.Status403Forbidden, "cross-site-request", "Cross-site requests need a key",
                $"A page of another site ({why}) may not run code or change anything here without a key. Use the playground on this "
                + "origin, a client outside a browser, or present an API key.");
        }
        return null;
    }

    /// <summary>Answers the refusal as a problem before authorization would answer a bare 401 (routes that need an allowed caller only).</summary>
    public static IApplicationBuilder UseOpenModeGate(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var options = context.RequestServices.GetRequiredService<IOptions<AuthOptions>>().Value;
        if (!options.Required
            && context.User.Identity?.IsAuthenticated != true
            && !ApiKeyAuthenticationHandler.PresentsKey(context.Request, options)
            && context.GetEndpoint() is { } endpoint && endpoint.Metadata.GetMetadata<IAllowAnonymous>() is null
            && Refusal(context) is { } problem)
        {
            await TypedResults.Problem(problem).ExecuteAsync(context);
            return;
        }
        await next(context);
    });

    private static bool IsLoopbackName(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    /// <summary>Running code and changing state: every method but the safe ones, and the WebSocket attach (a GET that writes stdin).</summary>
    private static bool ChangesState(HttpContext context) =>
        !(HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method))
        || context.WebSockets.IsWebSocketRequest;

    /// <summary>
    /// What says the request comes from a page of another site: the browser's Sec-Fetch-Site (same-site counts: another
    /// port or subdomain is another program), or an Origin that is not this request's own. Clients outside a browser send
    /// neither, and the playground's requests are same-origin.
    /// </summary>
    private static string? CrossSite(HttpRequest request)
    {
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        if (site.Equals("cross-site", StringComparison.OrdinalIgnoreCase) || site.Equals("same-site", StringComparison.OrdinalIgnoreCase))
        {
            return $"Sec-Fetch-Site: {site}";
        }
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0)
        {
            return null;
        }
        var own = Uri.TryCreate($"{request.Scheme}://{request.Host}", UriKind.Absolute, out var self) ? self : null;
        return Uri.TryCreate(origin, UriKind.Absolute, out var from) && own is not null
            && Uri.Compare(from, own, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0
            ? null
            : $"Origin: {Printable(origin)}";
    }

    private static string Printable(string value) => value.Length <= 100 && value.All(c => c is >= ' ' and < '\x7f') ? value : "(unprintable)";
}
