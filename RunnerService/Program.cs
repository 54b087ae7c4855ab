using Executor.Runner.Apis;
using Executor.Runner.Extensions;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();
builder.Services.AddProblemDetails();

var app = builder.Build();

app.UseInternalErrorProblems();
app.MapDefaultEndpoints();
app.MapRunsApi();

app.Run();

public partial class Program;
