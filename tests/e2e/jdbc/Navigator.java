import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.Properties;

/** What a JDBC tool (DBeaver's generic mode, Superset's JDBC cousins, Excel bridges) asks on connect:
 * DatabaseMetaData.getSchemas, getTables and getColumns, printed one line each for the test to check. */
public class Navigator {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.setProperty("user", args[1]);
        p.setProperty("password", args[2]);
        p.setProperty("sslmode", "disable");
        try (Connection con = DriverManager.getConnection(args[0], p)) {
            DatabaseMetaData md = con.getMetaData();
            System.out.println("product\t" + md.getDatabaseProductName() + "\t" + md.getDatabaseProductVersion());
            try (ResultSet rs = md.getSchemas()) {
                while (rs.next()) System.out.println("schema\t" + rs.getString("TABLE_SCHEM"));
            }
            try (ResultSet rs = md.getTables(null, null, "%", new String[] {"TABLE"})) {
                while (rs.next()) {
                    System.out.println("table\t" + rs.getString("TABLE_SCHEM") + "." + rs.getString("TABLE_NAME")
                        + "\t" + rs.getString("REMARKS"));
                }
            }
            try (ResultSet rs = md.getColumns(null, null, "%", "%")) {
                while (rs.next()) {
                    System.out.println("column\t" + rs.getString("TABLE_SCHEM") + "." + rs.getString("TABLE_NAME")
                        + "\t" + rs.getString("COLUMN_NAME") + "\t" + rs.getString("TYPE_NAME")
                        + "\t" + rs.getInt("ORDINAL_POSITION"));
                }
            }
            try (ResultSet rs = con.createStatement().executeQuery(
                    "select count(*) from theme.energy_daily")) {
                rs.next();
                System.out.println("rows\t" + rs.getLong(1));
            }
        }
    }
}
