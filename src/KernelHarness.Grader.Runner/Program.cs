using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Text.Json;
using KernelHarness.Annotations;
using KernelHarness.Conformance;
using KernelHarness.Runtime;

namespace KernelHarness.Grader.Runner;

/// <summary>
/// The grader's child process. Order matters: it takes the channel key and the job from stdin and
/// loads the hidden tests before the student's assembly is loaded, so no student code ever runs
/// while the key or the hidden tests' bytes are within reach of a file or stream it could read.
/// </summary>
public static class RunnerProgram
{
    private const int MaxField = 4000;
    private const int MaxLines = 60;

    private static byte[] key = Array.Empty<byte>();
    private static long seq;
    private static Stream? output;

    public static int Main(string[] args)
    {
        output = Console.OpenStandardOutput();
        // Whatever student code prints (it may not: Console is refused by the IL check) goes nowhere.
        Console.SetOut(TextWriter.Null);
        Console.SetError(TextWriter.Null);

        RunnerJob job;
        using (var stdin = Console.OpenStandardInput())
        using (var reader = new StreamReader(stdin, Encoding.UTF8))
        {
            var secret = reader.ReadLine() ?? "";
            key = Convert.FromHexString(secret.Trim());
            job = JsonSerializer.Deserialize<RunnerJob>(reader.ReadToEnd(), Channel.Json) ?? new RunnerJob();
        }
        Console.SetIn(TextReader.Null);

        if (job.HiddenAssemblyBase64 is { Length: > 0 } hidden)
        {
            var assembly = Assembly.Load(Convert.FromBase64String(hidden));
            job.HiddenAssemblyBase64 = null;
            ConformanceCatalog.Add(assembly);
        }
        _ = ConformanceCatalog.All;

        Dictionary<string, Type> implementations;
        try
        {
            var student = Assembly.Load(new AssemblyName(job.StudentAssembly));
            implementations = FindImplementations(student);
        }
        catch (Exception ex)
        {
            Send(new RunnerRecord { Type = "fatal", Message = $"The submission's assembly could not be loaded: {ex.GetType().Name}: {Cap(SafeMessage(ex))}" });
            return 2;
        }
        Send(new RunnerRecord { Type = "hello", Implementations = implementations.Select(kv => $"{kv.Key}={kv.Value.FullName}").ToList() });
        if (job.Plan is not null)
        {
            job.Tests = MakePlan(job.Plan);
            Send(new RunnerRecord { Type = "plan", Plan = job.Tests });
        }

        foreach (var test in job.Tests)
        {
            Send(new RunnerRecord { Type = "start", Index = test.Index });
            var outcome = RunOne(test, implementations);
            Send(new RunnerRecord { Type = "result", Index = test.Index, Outcome = outcome });
            if (outcome.Status == nameof(TestStatus.TimedOut) || outcome.Message.Contains("OutOfMemory", StringComparison.Ordinal)
                || outcome.Message.Contains("InsufficientExecutionStack", StringComparison.Ordinal))
            {
                // A runaway thread may still spin or hold memory: the parent goes on in a fresh process.
                output.Flush();
                Environment.Exit(3);
            }
        }
        Send(new RunnerRecord { Type = "done" });
        return 0;
    }

    private static List<RunnerTest> MakePlan(RunnerPlanRequest request)
    {
        var plan = new List<RunnerTest>();
        foreach (var t in ConformanceCatalog.All)
        {
            if (!request.Subsystems.Contains(t.Subsystem) || !request.Groups.Contains(t.Group))
                continue;
            var timeout = t.GetType().GetProperty("Attribute", BindingFlags.NonPublic | BindingFlags.Instance)?.GetValue(t) is ConformanceTestAttribute a ? a.TimeoutMs : 0;
            var entry = new RunnerTest
            {
                Id = t.Id, Seed = t.DefaultSeed, Subsystem = t.Subsystem, Group = t.Group, Name = t.Name,
                Linux = t.Linux, Description = t.Description, TimeoutMs = timeout,
            };
            entry.Index = plan.Count;
            plan.Add(entry);
            if (request.ReferenceGroups.Contains(t.Group))
            {
                plan.Add(new RunnerTest
                {
                    Index = plan.Count, Id = t.Id, Seed = t.DefaultSeed, Subsystem = t.Subsystem, Group = t.Group, Name = t.Name,
                    Linux = t.Linux, Description = t.Description, TimeoutMs = timeout, Reference = true,
                });
            }
        }
        return plan;
    }

    private static OutcomeDto RunOne(RunnerTest test, Dictionary<string, Type> implementations)
    {
        var info = ConformanceCatalog.All.FirstOrDefault(t => t.Id == test.Id);
        if (info is null)
            return Synthetic(test, "?", nameof(TestStatus.Errored), $"No conformance test has the id '{test.Id}'.");
        Func<object> create;
        if (test.Reference)
        {
            var type = ReferenceType(info.Subsystem);
            if (type is null)
                return Synthetic(test, info.Subsystem, nameof(TestStatus.Errored), $"No reference implementation of '{info.Subsystem}' was found.");
            create = () => Activator.CreateInstance(type, nonPublic: true)!;
        }
        else
        {
            if (!implementations.TryGetValue(info.Subsystem, out var type))
                return Synthetic(test, info.Subsystem, nameof(TestStatus.Errored),
                    $"No public non-abstract class of the submission implements the '{info.Subsystem}' subsystem interface.");
            create = () => Activator.CreateInstance(type)!;
        }
        try
        {
            var o = ConformanceRunner.Run(info, create, test.Seed);
            return new OutcomeDto
            {
                Id = o.Id,
                Subsystem = o.Subsystem,
                Group = o.Group,
                Name = o.Name,
                Linux = o.Linux,
                Seed = o.Seed,
                Status = o.Status.ToString(),
                Message = Cap(o.Message),
                Expected = o.Expected is null ? null : Cap(o.Expected),
                Actual = o.Actual is null ? null : Cap(o.Actual),
                Reports = o.Reports.Take(10).Select(Cap).ToList(),
                KernelLog = o.KernelLog.TakeLast(MaxLines).Select(Cap).ToList(),
                Steps = o.Steps.TakeLast(20).Select(Cap).ToList(),
                Metrics = new SortedDictionary<string, double>(o.Metrics.ToDictionary(kv => kv.Key, kv => kv.Value), StringComparer.Ordinal),
                DurationMs = o.Duration.TotalMilliseconds,
            };
        }
        catch (Exception ex)
        {
            return Synthetic(test, info.Subsystem, nameof(TestStatus.Errored),
                $"The test could not be completed: {ex.GetType().Name} escaped the runner ({Cap(SafeMessage(ex))}).", info);
        }
    }

    private static OutcomeDto Synthetic(RunnerTest test, string subsystem, string status, string message, ConformanceTestInfo? info = null)
    {
        var parts = test.Id.Split('/');
        return new OutcomeDto
        {
            Id = test.Id,
            Subsystem = subsystem,
            Group = info?.Group ?? (parts.Length == 3 ? parts[1] : ""),
            Name = info?.Name ?? parts[^1],
            Linux = info?.Linux ?? "",
            Seed = test.Seed ?? info?.DefaultSeed ?? 0,
            Status = status,
            Message = message,
        };
    }

    private static string SafeMessage(Exception ex)
    {
        try
        {
            return ex.Message;
        }
        catch
        {
            return "(its Message threw)";
        }
    }

    private static string Cap(string s) => s.Length <= MaxField ? s : s[..MaxField] + " …(truncated)";

    private static Dictionary<string, Type> FindImplementations(Assembly student)
    {
        var found = new Dictionary<string, Type>(StringComparer.Ordinal);
        Type[] types;
        try
        {
            types = student.GetTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            types = ex.Types.Where(t => t is not null).ToArray()!;
        }
        foreach (var type in types.OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            if (!type.IsClass || type.IsAbstract || !type.IsPublic || type.GetConstructor(Type.EmptyTypes) is null)
                continue;
            foreach (var iface in type.GetInterfaces())
            {
                var subsystem = iface.GetCustomAttribute<KernelSubsystemAttribute>();
                if (subsystem is not null && subsystem.Assignable)
                    found.TryAdd(subsystem.Name, type);
            }
        }
        return found;
    }

    private static Type? ReferenceType(string subsystem)
    {
        var info = Machine.Subsystems.FirstOrDefault(s => s.Name == subsystem);
        if (info is null)
            return null;
        return typeof(Machine).Assembly.GetTypes()
            .Where(t => t.IsClass && !t.IsAbstract && info.InterfaceType.IsAssignableFrom(t)
                        && (t.Namespace ?? "").StartsWith("KernelHarness.Reference", StringComparison.Ordinal))
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .FirstOrDefault();
    }

    private static void Send(RunnerRecord record)
    {
        var line = Channel.Encode(key, seq++, record) + "\n";
        var bytes = Encoding.UTF8.GetBytes(line);
        output!.Write(bytes, 0, bytes.Length);
        output.Flush();
    }
}
