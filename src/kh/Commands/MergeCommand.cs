using System.CommandLine;
using System.IO;
using KernelHarness.Grader;

namespace KernelHarness.Cli.Commands;

/// <summary><c>kh merge SHARD_DIR... --out DIR</c>: joins the outputs of <c>kh grade-all --shard</c>.</summary>
public static class MergeCommand
{
    public static Command Create()
    {
        var shards = new Argument<string[]>("SHARD_DIRS") { Description = "The --out folders of the shards.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out", "-o") { Description = "The merged output folder.", DefaultValueFactory = _ => "out" };
        var title = new Option<string>("--title") { Description = "The class page's title.", DefaultValueFactory = _ => "Class results" };
        var command = new Command("merge", "Merge the outputs of sharded kh grade-all runs into one folder with class.csv and class.html over every student.")
        {
            shards, output, title,
        };
        command.SetAction(parse =>
        {
            var outDir = parse.GetValue(output)!;
            int n = GradeAll.Merge(parse.GetValue(shards)!, outDir, parse.GetValue(title)!);
            parse.InvocationConfiguration.Output.WriteLine($"Merged {n} submission(s) into {Path.GetFullPath(outDir)}.");
            return 0;
        });
        return command;
    }
}
