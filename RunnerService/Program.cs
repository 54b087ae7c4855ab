using Executor.Runner.Apis;
using Executor.Runner.Extensions;
using Executor.Sandbox;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();
builder.Services.AddProblemDetails();

var app = builder.Build();

app.UseExceptionHandler();
app.UseInternalAccess();
app.MapDefaultEndpoints();
app.MapRunsApi();

app.Run();

public partial class Program;
