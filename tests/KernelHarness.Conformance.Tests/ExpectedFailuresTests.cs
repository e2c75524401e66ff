using System.IO;
using KernelHarness.Testing;
using Xunit;

namespace KernelHarness.Conformance.Tests;

/// <summary>The format of an example submission's expected-failures.txt, read by the one parser the test projects share.</summary>
public sealed class ExpectedFailuresTests
{
    [Fact]
    public void Lines_name_a_test_and_optionally_the_text_its_failure_must_mention()
    {
        var dir = Directory.CreateTempSubdirectory("kh-expected-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, ExpectedFailures.FileName), """
                # a comment, then a blank line

                slab/directed/kfree_null_is_a_noop :: kfree(NULL)
                  slab/directed/cache_alignment_is_honoured  
                slab/directed/ctor_runs_once::constructor ran twice :: not a second separator
                """);
            Assert.Equal(new (string, string?)[]
            {
                ("slab/directed/kfree_null_is_a_noop", "kfree(NULL)"),
                ("slab/directed/cache_alignment_is_honoured", null),
                ("slab/directed/ctor_runs_once", "constructor ran twice :: not a second separator"),
            }, ExpectedFailures.Read(dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_submission_without_the_file_is_expected_to_pass_everything()
    {
        var dir = Directory.CreateTempSubdirectory("kh-expected-").FullName;
        try
        {
            Assert.Empty(ExpectedFailures.Read(dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
