namespace Executor.Session.Compat.E2b;

/// <summary>
/// E2B's SDKs, given one sandbox URL (E2B_SANDBOX_URL), send every sandbox's data-plane request (code, files,
/// commands) to it and name the sandbox and its port in headers. Such a request is routed to E2B's data plane here
/// (<see cref="Prefix"/> before its path), whatever its path: "/execute" with the header is E2B's, without it the seed's.
/// </summary>
public static class E2bDataPlaneRouting
{
    public const string SandboxIdHeader = "E2b-Sandbox-Id";
    public const string SandboxPortHeader = "E2b-Sandbox-Port";

    /// <summary>Where the data plane's endpoints are mapped.</summary>
    public static readonly PathString Prefix = "/e2b/envd";

    /// <summary>Must run before routing (it changes which endpoint a request reaches).</summary>
    public static WebApplication UseE2bDataPlaneRouting(this WebApplication app)
    {
        app.Use((context, next) =>
        {
            if (context.Request.Headers.ContainsKey(SandboxIdHeader) && !context.Request.Path.StartsWithSegments(Prefix))
            {
                context.Request.Path = Prefix.Add(context.Request.Path);
            }
            return next(context);
        });
        app.UseRouting();
        return app;
    }
}
