using System.CommandLine;
using KernelHarness.Grader;

namespace KernelHarness.Cli.Commands;

/// <summary><c>kh replay SUBMISSION --test ID --seed S --assignment A</c>: re-runs one test exactly as graded.</summary>
public static class ReplayCommand
{
    public static Command Create()
    {
        var submission = new Argument<string>("SUBMISSION") { Description = "The submission folder." };
        var test = new Option<string>("--test", "-t") { Description = "The test id (subsystem/group/name), as the failure names it.", Required = true };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "The seed (default: the test's own)." };
        var assignment = new Option<string>("--assignment", "-a") { Description = "The assignment folder.", Required = true };
        var command = new Command("replay", "Re-run one test of a submission exactly as the grader ran it (same trusted build, child process and seed); prints the failure and the kernel log.")
        {
            submission, test, seed, assignment,
        };
        command.SetAction(parse =>
        {
            var r = Replay.Run(parse.GetValue(submission)!, parse.GetValue(assignment)!, parse.GetValue(test)!, parse.GetValue(seed),
                parse.GetValue(submission), parse.GetValue(assignment));
            parse.InvocationConfiguration.Output.Write(r.Text);
            return r.ExitCode;
        });
        return command;
    }
}
