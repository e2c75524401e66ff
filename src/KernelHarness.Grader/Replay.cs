using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using KernelHarness.Grader.Assignments;
using KernelHarness.Grader.Build;
using KernelHarness.Grader.Execution;
using KernelHarness.Grader.IlCheck;
using KernelHarness.Grader.Runner;
using KernelHarness.Grader.Scoring;

namespace KernelHarness.Grader;

/// <summary><c>kh replay</c>: re-runs one test exactly as graded (same trusted build, same child, same seed).</summary>
public static class Replay
{
    public sealed record ReplayResult(int ExitCode, string Text, OutcomeDto? Outcome);

    public static ReplayResult Run(string submission, string assignmentPath, string testId, ulong? seed, string? submissionDisplay = null, string? assignmentDisplay = null)
    {
        Assignment assignment;
        try
        {
            assignment = AssignmentLoader.Load(assignmentPath);
        }
        catch (AssignmentException ex)
        {
            return new ReplayResult(2, ex.Message + "\n", null);
        }
        var toolset = Toolset.Current;
        var work = Directory.CreateTempSubdirectory("kh-replay-").FullName;
        try
        {
            var build = TrustedBuild.BuildSubmission(submission, assignment, Path.Combine(work, "build"), toolset, TimeSpan.FromMinutes(5));
            if (!build.Succeeded)
                return new ReplayResult(1, (build.FailureReason ?? "The build failed.") + "\n", null);
            var violations = IlChecker.Check(build.AssemblyPath!, Allowlist.ForAssignment(assignment.Allowlist, assignment.Directory), TrustedBuild.MappedSourceRoot);
            if (violations.Count > 0)
                return new ReplayResult(1, "Refused by the IL check (KH9001):\n" + string.Join("\n", violations.Select(v => "  " + v)) + "\n", null);
            byte[]? hidden = null;
            if (assignment.HiddenSources.Count > 0)
            {
                var (bytes, error) = Grading.HiddenAssembly(assignment, toolset);
                if (error is not null)
                    return new ReplayResult(2, "The hidden tests do not compile:\n" + error + "\n", null);
                hidden = bytes;
            }
            var runDir = Path.Combine(work, "run");
            Directory.CreateDirectory(runDir);
            foreach (var f in new[] { build.AssemblyPath!, Path.ChangeExtension(build.AssemblyPath!, ".pdb"), toolset.KernelHarnessDll, toolset.ConformanceDll, toolset.RunnerDll })
            {
                if (File.Exists(f))
                    File.Copy(f, Path.Combine(runDir, Path.GetFileName(f)), overwrite: true);
            }
            var parts = testId.Split('/');
            var test = new RunnerTest
            {
                Index = 0, Id = testId, Seed = seed,
                Subsystem = parts.Length == 3 ? parts[0] : "", Group = parts.Length == 3 ? parts[1] : "", Name = parts[^1],
            };
            var execution = TestExecutor.Run(new ExecutionRequest
            {
                RunDirectory = runDir,
                HiddenAssembly = hidden,
                Tests = new List<RunnerTest> { test },
                TestTimeout = TimeSpan.FromSeconds(assignment.Limits.TestTimeoutSeconds),
                Deadline = DateTime.UtcNow + TimeSpan.FromSeconds(assignment.Limits.RunTimeoutSeconds),
                MemoryMb = assignment.Limits.MemoryMb,
                Toolset = toolset,
            });
            if (execution.Results.Count == 0)
                return new ReplayResult(2, execution.Fault ?? "The test did not run.", null);
            var o = execution.Results[0].Outcome;
            var options = new GradeOptions { Submission = submission, AssignmentPath = assignmentPath, SubmissionDisplay = submissionDisplay, AssignmentDisplay = assignmentDisplay };
            var graded = new GradedTest
            {
                Id = o.Id, Group = o.Group, Subsystem = o.Subsystem, Visibility = Visibility.Visible, Score = 0, MaxScore = 0,
                Passed = o.Status == "Passed", Outcome = o, Output = "", ReplayCommand = Grading.ReplayCommand(options, o.Id, o.Seed),
            };
            var sb = new StringBuilder(Scorer.Render(graded));
            sb.Append("\nKernel log:\n");
            foreach (var l in o.KernelLog)
                sb.Append("  ").Append(l).Append('\n');
            if (o.KernelLog.Count == 0)
                sb.Append("  (empty)\n");
            return new ReplayResult(graded.Passed ? 0 : 1, sb.ToString(), o);
        }
        finally
        {
            Grading.TryDelete(work);
        }
    }
}
