namespace Executor.Session.Compat.E2b;

/// <summary>
/// E2B's API for its unmodified SDKs (<c>e2b</c>, <c>@e2b/code-interpreter</c>): the control plane at /e2b (E2B_API_URL)
/// with the caller's key, and the data plane (E2B_SANDBOX_URL is this server; <see cref="E2bDataPlaneRouting"/> sends a
/// request that names its sandbox to /e2b/envd) with the sandbox's own token. Every call goes through
/// <c>SandboxOperations</c>, so keys, quotas, ownership and audit are the native API's.
/// It stays out of the OpenAPI document: E2B documents its own API, and its SDKs are its clients.
/// </summary>
public static class E2bApi
{
    public static IEndpointRouteBuilder MapE2bApi(this IEndpointRouteBuilder app)
    {
        app.MapE2bSandboxesApi();
        app.MapE2bCodeApi();
        app.MapE2bFilesApi();
        app.MapE2bProcessApi();
        return app;
    }
}
