using System;
using System.CommandLine;
using System.IO;
using System.Linq;
using KernelHarness.Grader;
using KernelHarness.Grader.Scoring;
using Spectre.Console;

namespace KernelHarness.Cli.Commands;

/// <summary><c>kh grade-all SUBMISSIONS_DIR --assignment A [--jobs N] [--shard I/N] [--out DIR]</c>.</summary>
public static class GradeAllCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("SUBMISSIONS_DIR") { Description = "A folder with one sub-folder per submission (per student)." };
        var assignment = new Option<string>("--assignment", "-a") { Description = "The assignment folder.", Required = true };
        var jobs = new Option<int>("--jobs", "-j") { Description = "Submissions graded at once.", DefaultValueFactory = _ => Math.Max(1, Environment.ProcessorCount / 2) };
        var shard = new Option<string?>("--shard") { Description = "Grade only shard I of N (1-based, e.g. 2/4), for a CI matrix; join with kh merge." };
        var output = new Option<string>("--out", "-o") { Description = "Output folder: one sub-folder per student, class.csv, class.html.", DefaultValueFactory = _ => "out" };
        var command = new Command("grade-all", "Grade every submission of a folder, N at a time, with a live progress display (plain lines in CI); then class.csv and class.html.")
        {
            dir, assignment, jobs, shard, output,
        };
        command.SetAction(parse =>
        {
            var (i, n) = GradeAll.ParseShard(parse.GetValue(shard));
            var subsDir = parse.GetValue(dir)!;
            var asg = parse.GetValue(assignment)!;
            var outDir = parse.GetValue(output)!;
            int j = Math.Max(1, parse.GetValue(jobs));
            var console = parse.InvocationConfiguration.Output;
            if (!Directory.Exists(subsDir))
            {
                console.WriteLine($"kh grade-all: '{subsDir}' is not a folder.");
                return 2;
            }
            var total = GradeAll.Submissions(subsDir, i, n).Count;
            bool live = !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("CI") != "true" && AnsiConsole.Profile.Capabilities.Interactive;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            System.Collections.Generic.IReadOnlyList<GradeResult> results;
            if (live)
            {
                results = Array.Empty<GradeResult>();
                AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask($"Grading {total} submission(s), {j} at a time", maxValue: Math.Max(1, total));
                        results = GradeAll.Run(subsDir, asg, outDir, j, i, n, (name, r) =>
                        {
                            if (r is not null)
                            {
                                task.Increment(1);
                                AnsiConsole.MarkupLine($"  {Markup.Escape(name)}: [bold]{Scorer.Fmt(r.Score)}[/] / {Scorer.Fmt(r.MaxScore)} {(r.Status == GradeStatus.Graded ? "" : "[yellow]" + r.Status + "[/]")}");
                            }
                        }, subsDir, asg);
                    });
            }
            else
            {
                int done = 0;
                var gate = new object();
                results = GradeAll.Run(subsDir, asg, outDir, j, i, n, (name, r) =>
                {
                    if (r is null)
                        return;
                    lock (gate)
                        console.WriteLine($"[{++done}/{total}] {name}: {Scorer.Fmt(r.Score)} / {Scorer.Fmt(r.MaxScore)} ({r.Status})");
                }, subsDir, asg);
            }
            console.WriteLine($"Graded {results.Count} submission(s) in {sw.Elapsed.TotalSeconds:0.0} s with --jobs {j}; class.csv and class.html in {Path.GetFullPath(outDir)}.");
            return 0;
        });
        return command;
    }
}
