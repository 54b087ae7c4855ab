using Executor.Gateway.ApiDocs;
using Executor.Gateway.Extensions;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddGatewayServices();

var app = builder.Build();

app.UseInternalErrorProblems();
// Content-Type sent twice (by proxies that re-add every header) is forwarded once.
app.UseRepeatedContentTypeAsOne();
// Errors the proxy produces itself (413 body too large, 502/503/504 backend down) become problem details too.
app.UseStatusCodePages();
app.MapDefaultEndpoints();
// The playground at / (wwwroot); the API routes and docs stay where they are.
app.UsePlayground();
app.MapApiDocs();
app.MapReverseProxy();

app.Run();

public partial class Program;
