namespace Executor.Session.Mcp;

/// <summary>POST /mcp: the MCP server (Streamable HTTP, stateless: any replica answers any request).</summary>
public static class McpEndpoints
{
    public const string Path = "/mcp";

    public static IHostApplicationBuilder AddMcp(this IHostApplicationBuilder builder)
    {
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddMcpServer(options =>
            {
                options.ServerInfo = new() { Name = "executor", Title = "Executor: code in a sandbox", Version = "1.0" };
                options.ServerInstructions = "Run Python code in isolated, single-use sandboxes (no network) with run_python; "
                    + "programs in C, C++, Java, JavaScript or bash with run_code; judge a program against test cases with grade; "
                    + "list_runtimes says which packages each runtime has.";
            })
            // Stateless: no session to keep, so SessionService replicas behind a load balancer each answer any request.
            .WithHttpTransport(options => options.Stateless = true)
            .WithTools<ExecutorMcpTools>()
            .WithTools<SandboxMcpTools>();
        return builder;
    }

    /// <summary>Behind the same keys as every route; every MCP request counts against the key's runs per minute.</summary>
    public static IEndpointRouteBuilder MapMcpEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapMcp(Path).WithTags("MCP").ExcludeFromDescription();
        return app;
    }
}
