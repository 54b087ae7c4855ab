using Executor.Session.Access;
using Executor.Session.Apis;
using Executor.Session.Extensions;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();
builder.Services.AddProblemDetails();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseAccess();
app.MapDefaultEndpoints();
app.MapOpenApi().AllowAnonymous();
app.MapSessionsApi();
app.MapLiveApi();
app.MapPrewarmApi();
app.MapAdminApi();
app.MapHostsApi();

app.Run();

public partial class Program;
