using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Tasks;
using KernelHarness.Grader.Assignments;
using KernelHarness.Grader.Build;
using KernelHarness.Grader.Execution;
using KernelHarness.Grader.IlCheck;
using KernelHarness.Grader.Outputs;
using KernelHarness.Grader.Runner;
using KernelHarness.Grader.Scoring;

namespace KernelHarness.Grader;

/// <summary>What to grade and where to write the results.</summary>
public sealed class GradeOptions
{
    public required string Submission { get; init; }
    public required string AssignmentPath { get; init; }
    public string? OutDirectory { get; init; }
    /// <summary>How the submission and assignment are named in reproduction commands (as the user typed them).</summary>
    public string? SubmissionDisplay { get; init; }
    public string? AssignmentDisplay { get; init; }
    public bool Classroom { get; init; }
    /// <summary>Under GitHub Actions: step summary and annotations (default: GITHUB_ACTIONS=true).</summary>
    public bool? GitHub { get; init; }
    /// <summary>Overrides the assignment's per-test limit (tests of the grader itself use short limits).</summary>
    public double? TestTimeoutSeconds { get; init; }
    public double? RunTimeoutSeconds { get; init; }
    public bool KeepWork { get; init; }
}

/// <summary>
/// <c>kh grade</c>: trusted build → IL allowlist check → tests in sandboxed children → scoring →
/// results.json, junit.xml, report.md, diagnostics.sarif (and GitHub/Classroom extras). Whatever
/// happens, a complete results.json is written.
/// </summary>
public static class Grading
{
    /// <summary>Seconds kept back from the whole-run budget to write the results.</summary>
    public const double ResultReserveSeconds = 10;

    private static readonly ConcurrentDictionary<string, Lazy<(byte[]? Bytes, string? Error)>> HiddenCache = new(StringComparer.Ordinal);

    public static GradeResult Grade(GradeOptions options)
    {
        var sw = Stopwatch.StartNew();
        Assignment assignment;
        try
        {
            assignment = AssignmentLoader.Load(options.AssignmentPath);
        }
        catch (AssignmentException ex)
        {
            var stub = StubAssignment(options.AssignmentPath);
            var failed = new GradeResult { Submission = SubmissionName(options), Assignment = stub, Status = GradeStatus.Fault, Reason = "The assignment file is malformed: " + ex.Message };
            Finish(failed, options, sw);
            return failed;
        }
        var grade = new GradeResult { Submission = SubmissionName(options), Assignment = assignment, Sandbox = Sandbox.Describe() };
        var work = Directory.CreateTempSubdirectory("kh-grade-").FullName;
        try
        {
            GradeInto(grade, assignment, options, work, sw);
        }
        catch (Exception ex)
        {
            grade.Status = GradeStatus.Fault;
            grade.Reason = $"The grader failed: {ex.GetType().Name}: {ex.Message}";
            grade.Tests.Clear();
        }
        try
        {
            Finish(grade, options, sw);
        }
        finally
        {
            if (!options.KeepWork && Environment.GetEnvironmentVariable("KH_KEEP_WORK") != "1")
                TryDelete(work);
        }
        return grade;
    }

    private static void GradeInto(GradeResult grade, Assignment assignment, GradeOptions options, string work, Stopwatch sw)
    {
        var toolset = Toolset.Current;
        double runBudget = options.RunTimeoutSeconds ?? assignment.Limits.RunTimeoutSeconds;
        if (double.TryParse(Environment.GetEnvironmentVariable("KH_PLATFORM_TIMEOUT_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var platform))
            runBudget = Math.Min(runBudget, platform);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(Math.Max(5, runBudget - Math.Min(ResultReserveSeconds, runBudget / 5)));
        var testTimeout = TimeSpan.FromSeconds(options.TestTimeoutSeconds ?? assignment.Limits.TestTimeoutSeconds);

        if (!Directory.Exists(options.Submission))
        {
            grade.Status = GradeStatus.BuildFailed;
            grade.Reason = $"The submission folder '{options.Submission}' does not exist.";
            return;
        }

        // 1. The trusted build.
        var buildTimeout = TimeSpan.FromSeconds(Math.Max(30, Math.Min(300, (deadline - DateTime.UtcNow).TotalSeconds)));
        var build = TrustedBuild.BuildSubmission(options.Submission, assignment, Path.Combine(work, "build"), toolset, buildTimeout);
        grade.BuildTime = build.Duration;
        grade.SarifPath = build.SarifPath;
        grade.CompilerDiagnostics = build.Diagnostics;
        grade.Notes.AddRange(build.Notes);
        Scorer.ScoreFindings(grade, build.Diagnostics);
        if (!build.Succeeded)
        {
            grade.Status = GradeStatus.BuildFailed;
            grade.Reason = build.FailureReason ?? "The build failed.";
            return;
        }

        // 2. The IL allowlist check.
        var allowlist = Allowlist.ForAssignment(assignment.Allowlist, assignment.Directory);
        var violations = IlChecker.Check(build.AssemblyPath!, allowlist, TrustedBuild.MappedSourceRoot);
        if (violations.Count > 0)
        {
            grade.Violations.AddRange(violations);
            grade.Status = GradeStatus.Refused;
            grade.Reason = $"The submission uses {violations.Count} API(s) a submission may not use (KH9001); it was not run.";
            return;
        }

        // 3. Hidden tests, compiled by the grader (once per assignment content).
        byte[]? hidden = null;
        if (assignment.HiddenSources.Count > 0)
        {
            var (bytes, error) = HiddenAssembly(assignment, toolset);
            if (error is not null)
            {
                grade.Status = GradeStatus.Fault;
                grade.Reason = "The assignment's hidden tests do not compile (an instructor problem, not the submission's):\n" + error;
                return;
            }
            hidden = bytes;
        }

        // 4. The run folder: the only files the child sees.
        var runDir = Path.Combine(work, "run");
        Directory.CreateDirectory(runDir);
        foreach (var f in new[] { build.AssemblyPath!, Path.ChangeExtension(build.AssemblyPath!, ".pdb"), toolset.KernelHarnessDll, toolset.ConformanceDll, toolset.RunnerDll })
        {
            if (File.Exists(f))
                File.Copy(f, Path.Combine(runDir, Path.GetFileName(f)), overwrite: true);
        }

        var groups = assignment.Groups.Select(g => g.Name).ToList();
        var execution = TestExecutor.Run(new ExecutionRequest
        {
            RunDirectory = runDir,
            HiddenAssembly = hidden,
            Plan = new RunnerPlanRequest
            {
                Subsystems = assignment.GradedSubsystems.ToList(),
                Groups = groups,
                ReferenceGroups = assignment.PerformanceMetrics.Count > 0 ? assignment.PerformanceGroups.ToList() : new List<string>(),
            },
            TestTimeout = testTimeout,
            Deadline = deadline,
            MemoryMb = assignment.Limits.MemoryMb,
            Toolset = toolset,
        });
        grade.Notes.AddRange(execution.Notes);
        if (execution.Fault is not null && execution.Results.Count == 0)
        {
            grade.Status = GradeStatus.Fault;
            grade.Reason = execution.Fault;
            return;
        }
        if (execution.Fault is not null)
            grade.Notes.Add(execution.Fault);
        Scorer.ScoreTests(grade, execution.Results, o => ReplayCommand(options, o.Id, o.Seed));
    }

    private static void Finish(GradeResult grade, GradeOptions options, Stopwatch sw)
    {
        Scorer.Total(grade);
        grade.ExecutionTime = sw.Elapsed;
        if (options.OutDirectory is not null)
        {
            try
            {
                OutputWriter.WriteAll(grade, options.OutDirectory, options.Classroom, options.GitHub ?? Environment.GetEnvironmentVariable("GITHUB_ACTIONS") == "true");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Last resort: a minimal results.json, so the platform still records a grade.
                Directory.CreateDirectory(options.OutDirectory);
                File.WriteAllText(Path.Combine(options.OutDirectory, "results.json"),
                    "{\"score\": 0, \"output\": \"The grader could not write its results: " + ex.Message.Replace("\"", "'", StringComparison.Ordinal) + "\", \"tests\": []}\n");
            }
        }
    }

    public static string ReplayCommand(GradeOptions options, string testId, ulong seed) =>
        string.Create(CultureInfo.InvariantCulture,
            $"kh replay {Quote(options.SubmissionDisplay ?? options.Submission)} --test {Quote(testId)} --seed {seed} --assignment {Quote(options.AssignmentDisplay ?? options.AssignmentPath)}");

    private static string Quote(string s) => s.Length > 0 && s.All(c => char.IsLetterOrDigit(c) || c is '/' or '.' or '-' or '_' or '~') ? s : "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static string SubmissionName(GradeOptions o) => Path.GetFileName(Path.GetFullPath(o.Submission).TrimEnd('/'));

    private static Assignment StubAssignment(string path) => new()
    {
        Directory = Path.GetFullPath(path),
        File = Path.Combine(Path.GetFullPath(path), AssignmentLoader.FileName),
        Id = "unknown",
        Title = "(malformed assignment)",
        Subsystems = Array.Empty<string>(),
        Sources = Array.Empty<string>(),
        Groups = Array.Empty<TestGroup>(),
    };

    /// <summary>The hidden-test assembly's bytes, built once per assignment content per process (and cached on disk across processes).</summary>
    public static (byte[]? Bytes, string? Error) HiddenAssembly(Assignment assignment, Toolset toolset)
    {
        var hash = HiddenHash(assignment, toolset);
        return HiddenCache.GetOrAdd(hash, h => new Lazy<(byte[]?, string?)>(() =>
        {
            var cacheDir = Path.Combine(Path.GetTempPath(), "kh-grader-cache", "hidden-" + h[..16]);
            var cached = Path.Combine(cacheDir, TrustedBuild.HiddenAssemblyName + ".dll");
            if (File.Exists(cached))
                return (File.ReadAllBytes(cached), null);
            var work = Directory.CreateTempSubdirectory("kh-hidden-").FullName;
            try
            {
                var build = TrustedBuild.BuildHidden(assignment, work, toolset, TimeSpan.FromSeconds(300));
                if (!build.Succeeded)
                    return (null, build.FailureReason);
                var bytes = File.ReadAllBytes(build.AssemblyPath!);
                try
                {
                    Directory.CreateDirectory(cacheDir);
                    var tmp = cached + "." + Environment.ProcessId + ".tmp";
                    File.WriteAllBytes(tmp, bytes);
                    File.Move(tmp, cached, overwrite: true);
                }
                catch (IOException)
                {
                }
                return (bytes, null);
            }
            finally
            {
                TryDelete(work);
            }
        })).Value;
    }

    private static string HiddenHash(Assignment assignment, Toolset toolset)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var f in assignment.HiddenSources)
        {
            sha.AppendData(Encoding.UTF8.GetBytes(Path.GetRelativePath(assignment.HiddenDirectory, f)));
            sha.AppendData(File.ReadAllBytes(f));
        }
        foreach (var dll in new[] { toolset.KernelHarnessDll, toolset.ConformanceDll })
            sha.AppendData(SHA256.HashData(File.ReadAllBytes(dll)));
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    internal static void TryDelete(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
