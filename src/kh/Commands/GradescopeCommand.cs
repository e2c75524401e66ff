using System;
using System.CommandLine;
using System.IO;
using KernelHarness.Grader.Packaging;

namespace KernelHarness.Cli.Commands;

/// <summary><c>kh gradescope ASSIGNMENT -o autograder.zip</c>: Gradescope packaging (setup.sh, run_autograder, the assignment, kh).</summary>
public static class GradescopeCommand
{
    public static Command Create()
    {
        var assignment = new Argument<string>("ASSIGNMENT") { Description = "The assignment folder." };
        var output = new Option<string>("--output", "-o") { Description = "The zip to write.", DefaultValueFactory = _ => "autograder.zip" };
        var command = new Command("gradescope", "Package an assignment as a Gradescope autograder.zip (setup.sh installs .NET; run_autograder grades /autograder/submission into /autograder/results/results.json).")
        {
            assignment, output,
        };
        command.SetAction(parse =>
        {
            var zip = parse.GetValue(output)!;
            GradescopePackager.Create(parse.GetValue(assignment)!, zip, AppContext.BaseDirectory);
            parse.InvocationConfiguration.Output.WriteLine($"Wrote {Path.GetFullPath(zip)}.");
            return 0;
        });
        return command;
    }
}
