using System;
using System.CommandLine;
using System.IO;
using KernelHarness.Grader;

namespace KernelHarness.Cli.Commands;

/// <summary><c>kh grade SUBMISSION --assignment A [--out DIR] [--format classroom]</c> (docs/grader.md).</summary>
public static class GradeCommand
{
    public static Command Create()
    {
        var submission = new Argument<string>("SUBMISSION") { Description = "The submission folder (its C# sources; project files in it are ignored)." };
        var assignment = new Option<string>("--assignment", "-a") { Description = "The assignment folder (holding assignment.yaml).", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Where to write results.json, junit.xml, report.md, diagnostics.sarif.", DefaultValueFactory = _ => "out" };
        var format = new Option<string[]>("--format") { Description = "Extra output formats: classroom (GitHub Classroom's result).", AllowMultipleArgumentsPerToken = true };
        var command = new Command("grade", "Grade one submission: trusted build with the analyzers, IL allowlist check, tests in a sandboxed child process, score; writes results.json (Gradescope), junit.xml, report.md, diagnostics.sarif. Exit code 0 whenever a result was written.")
        {
            submission, assignment, output, format,
        };
        command.SetAction(parse =>
        {
            var sub = parse.GetValue(submission)!;
            var asg = parse.GetValue(assignment)!;
            var outDir = parse.GetValue(output)!;
            var formats = parse.GetValue(format) ?? Array.Empty<string>();
            var result = Grading.Grade(new GradeOptions
            {
                Submission = sub,
                AssignmentPath = asg,
                OutDirectory = outDir,
                SubmissionDisplay = sub,
                AssignmentDisplay = asg,
                Classroom = Array.Exists(formats, f => string.Equals(f, "classroom", StringComparison.OrdinalIgnoreCase)),
            });
            var console = parse.InvocationConfiguration.Output;
            console.WriteLine($"{result.Submission}: {Grader.Scoring.Scorer.Fmt(result.Score)} / {Grader.Scoring.Scorer.Fmt(result.MaxScore)} ({result.Status}){(result.Reason is null ? "" : " — " + FirstLine(result.Reason))}");
            console.WriteLine($"Results in {Path.GetFullPath(outDir)} (results.json, junit.xml, report.md, diagnostics.sarif).");
            return File.Exists(Path.Combine(outDir, "results.json")) ? 0 : 1;
        });
        return command;
    }

    internal static string FirstLine(string s)
    {
        int nl = s.IndexOf('\n', StringComparison.Ordinal);
        return nl < 0 ? s : s[..nl];
    }
}
