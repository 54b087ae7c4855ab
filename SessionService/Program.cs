using Executor.Session.Apis;
using Executor.Session.Compat;
using Executor.Session.Compat.E2b;
using Executor.Session.Compat.Jupyter;
using Executor.Session.Extensions;
using Executor.Session.Live;
using Executor.Session.Mcp;
using Executor.SessionCore.Access;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();
builder.AddMcp();
builder.Services.AddProblemDetails();

var app = builder.Build();

app.UseInternalErrorProblems();
app.UseRepeatedContentTypeAsOne();
app.UseStatusCodePages();
app.UseE2bDataPlaneRouting();
app.UseWebSockets();
app.UseAccess();
app.MapDefaultEndpoints();
app.MapOpenApi().AllowAnonymous();
app.MapSessionsApi();
app.MapLiveApi();
app.MapAttachApi();
app.MapFilesApi();
app.MapRuntimesApi();
app.MapEnginePytestApi();
app.MapPistonApi();
app.MapJudge0Api();
app.MapMcpEndpoints();
app.MapCallbacksApi();
app.MapPrewarmApi();
app.MapAdminApi();
app.MapSandboxesApi();
app.MapE2bApi();
app.MapJupyterApi();
app.MapHostsApi();

app.Run();

public partial class Program;
