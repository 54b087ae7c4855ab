using Executor.Prewarm.Apis;
using Executor.Prewarm.Extensions;
using Executor.Sandbox;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();
builder.Services.AddProblemDetails();

var app = builder.Build();

app.UseExceptionHandler();
app.UseInternalAccess();
app.MapDefaultEndpoints();
app.MapOpenApi();
app.MapPoolApi();

app.Run();

public partial class Program;
